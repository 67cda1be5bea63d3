/* pair_style ictp: an ICTP model written by ictp-deploy (compiled .pt2 or TorchScript .pth), run
   through libtorch (deployed_model.cpp).

   Each step the pair style builds the graph the model's forward expects
   (docs/deployed_model.md): nodes are this rank's atoms, then ghost atoms,
   edges every pair closer than r_max in both directions, with edge vectors
   x_i - x_j taken from LAMMPS's (ghost) coordinates. On several ranks, ghosts
   reach num_layers * r_max so that message passing is exact on local atoms,
   and forces on ghosts go back to their owners through LAMMPS's reverse
   communication (newton_pair on). On one rank, ghosts are folded onto the
   atoms they image, so the model sees each atom once. */

#include "pair_ictp.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <torch/cuda.h>
#include <torch/headeronly/version.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

using namespace LAMMPS_NS;

// standard atomic masses (IUPAC 2016) of Z = 1..94, for the pair_coeff cross-check
static const double STANDARD_MASS[] = {
  1.008, 4.003, 6.94, 9.012, 10.81, 12.01, 14.01, 16, 19, 20.18, 22.99, 24.3,
  26.98, 28.09, 30.97, 32.06, 35.45, 39.95, 39.1, 40.08, 44.96, 47.87, 50.94, 52,
  54.94, 55.84, 58.93, 58.69, 63.55, 65.38, 69.72, 72.63, 74.92, 78.97, 79.9, 83.8,
  85.47, 87.62, 88.91, 91.22, 92.91, 95.95, 97.91, 101.1, 102.9, 106.4, 107.9, 112.4,
  114.8, 118.7, 121.8, 127.6, 126.9, 131.3, 132.9, 137.3, 138.9, 140.1, 140.9, 144.2,
  144.9, 150.4, 152, 157.2, 158.9, 162.5, 164.9, 167.3, 168.9, 173.1, 175, 178.5,
  180.9, 183.8, 186.2, 190.2, 192.2, 195.1, 197, 200.6, 204.4, 207.2, 209, 209,
  210, 222, 223, 226, 227, 232, 231, 238, 237, 244.1,
};

/* eV -> the energy unit of units metal (1) or real (LAMMPS's own factor); other units are refused */

static double energy_unit_conversion(LAMMPS *lmp)
{
  const std::string units = lmp->update->unit_style;
  if (units == "metal") return 1.0;
  if (units == "real") return utils::get_conversion_factor(utils::ENERGY, utils::METAL2REAL);
  lmp->error->all(FLERR, "pair ictp: units {} are not supported; use units metal (eV, Angstrom) or real", units);
}

/* ---------------------------------------------------------------------- */

PairICTP::PairICTP(LAMMPS *lmp) : Pair(lmp), device(torch::kCPU)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_AVAIL;
  device_arg = "auto";
  nthreads = 1;
  r_max = 0.0;
  num_layers = 0;
  energy_conversion = 1.0;
  fold_ghosts = true;
  first_call = true;
}

PairICTP::~PairICTP()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

/* ----------------------------------------------------------------------
   one step: the graph of this rank's atoms and ghosts, the model on it, its results into LAMMPS
------------------------------------------------------------------------- */

void PairICTP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  const int num_local = build_graph();
  if (first_call) log_node_counts(num_local);
  if (num_local == 0) return;    // no energy on this rank, hence no forces either
  accumulate(run_model(num_local, vflag_atom || cvflag_atom), num_local);
}

/* ----------------------------------------------------------------------
   nodes (local atoms first) and edges closer than r_max, from the full neighbour list;
   returns the number of local nodes
------------------------------------------------------------------------- */

int PairICTP::build_graph()
{
  const int nlocal = atom->nlocal, nall = nlocal + atom->nghost;
  double **x = atom->x;
  const int *type = atom->type;
  const tagint *tag = atom->tag;

  node_of.assign(nall, -1);
  atom_of.clear();
  species.clear();
  auto add_node = [&](int i) {
    const int s = species_of_type[type[i]];
    if (s < 0) return;    // NULL type: left to other pair styles
    node_of[i] = atom_of.size();
    atom_of.push_back(i);
    species.push_back(s);
  };
  for (int i = 0; i < nlocal; i++) add_node(i);
  const int num_local = atom_of.size();
  if (fold_ghosts) {
    tagint max_tag = 0;
    for (int i = 0; i < nlocal; i++) max_tag = std::max(max_tag, tag[i]);
    local_of_tag.assign(max_tag + 1, -1);
    for (int i = 0; i < nlocal; i++) local_of_tag[tag[i]] = i;
    for (int j = nlocal; j < nall; j++) node_of[j] = node_of[local_of_tag[tag[j]]];
  } else {
    for (int j = nlocal; j < nall; j++) add_node(j);
  }

  receivers.clear();
  senders.clear();
  vectors.clear();
  const double r_max_sq = r_max * r_max;
  const int num_receivers = list->inum + (fold_ghosts ? 0 : list->gnum);
  for (int ii = 0; ii < num_receivers; ii++) {
    const int i = list->ilist[ii];
    if (node_of[i] < 0) continue;
    const int *jlist = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      if (node_of[j] < 0) continue;
      const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
      if (dx * dx + dy * dy + dz * dz >= r_max_sq) continue;
      receivers.push_back(node_of[i]);
      senders.push_back(node_of[j]);
      vectors.insert(vectors.end(), {dx, dy, dz});
    }
  }
  return num_local;
}

/* ----------------------------------------------------------------------
   once per run: how many atoms, ghost nodes and edges the model sees, summed over ranks
------------------------------------------------------------------------- */

void PairICTP::log_node_counts(int num_local)
{
  first_call = false;
  bigint counts[3] = {num_local, (bigint) atom_of.size() - num_local, (bigint) receivers.size()}, total[3];
  MPI_Allreduce(counts, total, 3, MPI_LMP_BIGINT, MPI_SUM, world);
  if (comm->me != 0) return;
  if (fold_ghosts) {
    utils::logmesg(lmp, "ICTP: {} atoms, {} edges; single rank: periodic images folded onto their atoms\n",
                   total[0], total[2]);
  } else {
    const double ratio = total[0] ? (double) total[1] / total[0] : 0.0;
    utils::logmesg(lmp, "ICTP: {} local atoms, {} ghost nodes (ghost/local = {:.2f}), {} edges on {} ranks\n",
                   total[0], total[1], ratio, total[2], comm->nprocs);
    if (ratio > 20.0)
      error->warning(FLERR, "pair ictp: {:.0f} ghost nodes per atom: the model mostly evaluates ghosts; use "
                     "fewer MPI ranks for a system this small", ratio);
  }
}

/* ----------------------------------------------------------------------
   the deployed forward on this step's graph (docs/deployed_model.md); results on the CPU
------------------------------------------------------------------------- */

ictp::Outputs PairICTP::run_model(int num_local, bool atom_virial)
{
  const int64_t num_nodes = atom_of.size(), num_edges = receivers.size();
  auto int64 = torch::TensorOptions().dtype(torch::kInt64);
  auto float64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto edge_index = torch::stack({torch::from_blob(receivers.data(), {num_edges}, int64),
                                  torch::from_blob(senders.data(), {num_edges}, int64)});
  std::string failure;
  try {
    return model->run(torch::from_blob(species.data(), {num_nodes}, int64), edge_index,
                      torch::from_blob(vectors.data(), {num_edges, 3}, float64), num_local, vflag_global,
                      atom_virial, nthreads);
  } catch (const c10::Error &e) {
    failure = e.what_without_backtrace();
  } catch (const std::exception &e) {
    failure = e.what();
  }
  error->one(FLERR,
             "pair ictp: the model failed on {} nodes and {} edges: {}\nCheck that the model file was "
             "written by ictp-deploy and that this ictp plugin is as recent as the ictp that wrote it",
             num_nodes, num_edges, failure);
  return {};
}

/* ----------------------------------------------------------------------
   energies, forces and virials (converted to LAMMPS units) onto the atoms the nodes are;
   forces on ghosts reach their owners through LAMMPS's reverse communication
------------------------------------------------------------------------- */

void PairICTP::accumulate(const ictp::Outputs &results, int num_local)
{
  const double c = energy_conversion;
  if (eflag_global) eng_vdwl += c * results.energy.item<double>();
  if (eflag_atom) {
    auto e = results.energies.accessor<double, 1>();
    for (int n = 0; n < num_local; n++) eatom[atom_of[n]] += c * e[n];
  }
  double **f = atom->f;
  auto fn = results.forces.accessor<double, 2>();
  const int num_nodes = atom_of.size();
  for (int n = 0; n < num_nodes; n++)
    for (int k = 0; k < 3; k++) f[atom_of[n]][k] += c * fn[n][k];

  // LAMMPS's virial is sum x (x) f = the model's W; Voigt order xx, yy, zz, xy, xz, yz
  static const int row[9] = {0, 1, 2, 0, 0, 1, 1, 2, 2}, col[9] = {0, 1, 2, 1, 2, 2, 0, 0, 1};
  if (vflag_global) {
    auto w = results.virial.accessor<double, 2>();
    for (int k = 0; k < 6; k++) virial[k] += c * w[row[k]][col[k]];
  }
  if (vflag_atom || cvflag_atom) {
    auto w = results.atom_virial.accessor<double, 3>();
    for (int n = 0; n < num_nodes; n++) {
      const int a = atom_of[n];
      if (vflag_atom)
        for (int k = 0; k < 6; k++) vatom[a][k] += c * w[n][row[k]][col[k]];
      if (cvflag_atom)
        for (int k = 0; k < 9; k++) cvatom[a][k] += c * w[n][row[k]][col[k]];
    }
  }
}

/* ----------------------------------------------------------------------
   pair_style ictp [device auto|cpu|cuda|cuda:N] [threads N]
------------------------------------------------------------------------- */

void PairICTP::settings(int narg, char **arg)
{
  for (int iarg = 0; iarg < narg; iarg += 2) {
    if (iarg + 1 >= narg) error->all(FLERR, "pair ictp: keyword {} needs a value", arg[iarg]);
    const std::string key = arg[iarg], value = arg[iarg + 1];
    if (key == "device") {
      if (value != "auto" && value != "cpu" && value != "cuda" && !utils::strmatch(value, "^cuda:\\d+$"))
        error->all(FLERR, "pair ictp: device must be auto, cpu, cuda or cuda:N, not {}", value);
      device_arg = value;
    } else if (key == "threads") {
      nthreads = utils::inumeric(FLERR, value, false, lmp);
      if (nthreads < 1) error->all(FLERR, "pair ictp: threads must be at least 1");
    } else {
      error->all(FLERR, "pair ictp: unknown keyword {}; pair_style ictp [device auto|cpu|cuda|cuda:N] [threads N]",
                 key);
    }
  }
}

/* ----------------------------------------------------------------------
   pair_coeff * * model.pth El1 El2 ... (one element or NULL per atom type): load the model,
   map each type to a model species, log the table
------------------------------------------------------------------------- */

void PairICTP::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair ictp: pair_coeff * * model.pth needs one element (or NULL) for each of the {} atom "
               "types, got {}", ntypes, narg - 3);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair ictp: use pair_coeff * * model.pth El1 El2 ...");
  load_model(arg[2]);

  species_of_type.assign(ntypes + 1, -1);
  std::string table;
  for (int t = 1; t <= ntypes; t++) {
    const std::string element = arg[2 + t];
    if (element == "NULL") {
      table += fmt::format("  type {} -> NULL (not handled by ictp)\n", t);
      continue;
    }
    const auto &model_species = model->metadata().species;
    auto found = std::find(model_species.begin(), model_species.end(), element);
    if (found == model_species.end())
      error->all(FLERR, "pair ictp: element {} of type {} is not in the model, which has: {}", element, t,
                 utils::join_words(model_species, " "));
    species_of_type[t] = found - model_species.begin();
    table += fmt::format("  type {} -> {} (Z = {})\n", t, element, model->metadata().atomic_numbers[species_of_type[t]]);
  }
  if (comm->me == 0) utils::logmesg(lmp, table);

  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = species_of_type[i] >= 0 && species_of_type[j] >= 0;
}

/* ----------------------------------------------------------------------
   the model file's bytes: rank 0 reads them and sends them to the others,
   one file system access however many ranks
------------------------------------------------------------------------- */

std::string PairICTP::read_model_file(const std::string &path)
{
  std::string bytes;
  bigint size = -1;
  if (comm->me == 0) {
    std::ifstream file(path, std::ios::binary);
    if (file) {
      bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
      size = file.bad() ? -1 : (bigint) bytes.size();
    }
  }
  MPI_Bcast(&size, 1, MPI_LMP_BIGINT, 0, world);
  if (size < 0)
    error->all(FLERR, "pair ictp: cannot read the model file {}; write one with ictp-deploy and give its path "
               "in pair_coeff", path);
  if (size > MAXSMALLINT) error->all(FLERR, "pair ictp: model file {} is larger than 2 GB", path);
  bytes.resize(size);
  MPI_Bcast(bytes.data(), size, MPI_CHAR, 0, world);
  return bytes;
}

/* ----------------------------------------------------------------------
   the device of this rank: as pair_style says, or with auto a GPU if torch sees one
   (the ranks of a node share the GPUs round-robin), else the CPU
------------------------------------------------------------------------- */

void PairICTP::pick_device()
{
  if (device_arg != "auto") {
    device = torch::Device(device_arg);
    return;
  }
  device = torch::kCPU;
  if (torch::cuda::is_available()) {
    MPI_Comm node;
    int node_rank;
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, comm->me, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &node_rank);
    MPI_Comm_free(&node);
    device = torch::Device(torch::kCUDA, node_rank % torch::cuda::device_count());
  }
}

/* ----------------------------------------------------------------------
   the model of a file written by ictp-deploy (either format), on this rank's device, evaluated on
   the reference structures it carries: a file whose results differ from those recorded at export
   (other libraries, another CPU, a corrupted copy) is refused
------------------------------------------------------------------------- */

void PairICTP::load_model(const std::string &path)
{
  const std::string bytes = read_model_file(path);
  pick_device();
  try {
    model = std::make_unique<ictp::DeployedModel>(path, bytes, device);
    model->self_test(nthreads);
  } catch (const std::exception &e) {
    error->all(FLERR, "pair ictp: {}", e.what());
  }
  const ictp::Metadata &metadata = model->metadata();
  r_max = metadata.r_max;
  num_layers = metadata.num_layers;
  if (comm->me == 0) {
    utils::logmesg(lmp, "ICTP: model {} ({}, ictp {}, torch {}, {}), {} layers, r_max = {} Angstrom; it "
                   "reproduces its reference results\n", path, metadata.format, metadata.ictp_version,
                   metadata.torch_version, metadata.dtype, num_layers, r_max);
    if (metadata.format == "torchscript" && metadata.torch_version.rfind(TORCH_VERSION, 0) != 0)
      error->warning(FLERR, "pair ictp: the model was written with torch {}, the plugin runs torch {}",
                     metadata.torch_version, TORCH_VERSION);
  }
}

/* ----------------------------------------------------------------------
   init_style: checks and units, the neighbour list (full, with ghosts on several ranks),
   the communication cutoff for message passing, the mass cross-check of the type map
------------------------------------------------------------------------- */

void PairICTP::init_style()
{
  if (species_of_type.empty()) error->all(FLERR, "pair ictp: no model; use pair_coeff * * model.pth El1 El2 ...");
  if (force->newton_pair == 0)
    error->all(FLERR, "pair ictp requires newton pair on (ghost forces are sent back to their owners)");
  if (atom->tag_enable == 0) error->all(FLERR, "pair ictp requires atom IDs");
  energy_conversion = energy_unit_conversion(lmp);

  fold_ghosts = comm->nprocs == 1;
  ghostneigh = fold_ghosts ? 0 : 1;
  neighbor->add_request(this, fold_ghosts ? NeighConst::REQ_FULL : NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
  first_call = true;

  std::string comm_note = "single rank, periodic images folded";
  if (!fold_ghosts) {
    const double needed = num_layers * r_max + neighbor->skin;
    comm->cutghostuser = std::max(comm->cutghostuser, needed);
    comm_note = fmt::format("communication cutoff {} Angstrom >= {} layers x {} + skin {}", comm->cutghostuser,
                            num_layers, r_max, neighbor->skin);
  }
  if (comm->me == 0)
    utils::logmesg(lmp, "ICTP: device {}, {} torch thread(s) per rank, {}\n", device.str(), nthreads,
                   comm_note);

  for (int t = 1; t <= atom->ntypes; t++) {
    const int s = species_of_type[t];
    const int z = s < 0 ? 0 : model->metadata().atomic_numbers[s];
    if (s < 0 || !atom->mass_setflag[t] || z < 1 || z > 94) continue;
    const double standard = STANDARD_MASS[z - 1];
    if (comm->me == 0 && std::fabs(atom->mass[t] - standard) > 0.01 * standard)
      error->warning(FLERR, "pair ictp: type {} has mass {} but is mapped to Z = {} (mass {}); check pair_coeff",
                     t, atom->mass[t], z, standard);
  }
}

/* ----------------------------------------------------------------------
   init_one: the model's cutoff for every pair of types, also for ghosts
------------------------------------------------------------------------- */

double PairICTP::init_one(int i, int j)
{
  cutghost[i][j] = cutghost[j][i] = r_max;
  return r_max;
}

/* ---------------------------------------------------------------------- */

void PairICTP::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
}
