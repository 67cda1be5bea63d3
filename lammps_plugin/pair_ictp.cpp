/* pair_style ictp: an ICTP model written by ictp-deploy (compiled .pt2 or TorchScript .pth), run
   through libtorch (deployed_model.cpp).

   Each step the pair style builds the graph the model expects (docs/deployed_model.md): nodes
   are this rank's atoms, then ghost atoms, edges every pair closer than r_max, with edge vectors
   x_i - x_j taken from LAMMPS's (ghost) coordinates. Forces on ghosts go back to their owners
   through LAMMPS's reverse communication (newton_pair on). Message passing over num_layers
   layers needs, for each local atom, every atom within num_layers x r_max:
   - one rank: ghosts are folded onto the atoms they image, so the model sees each atom once;
   - comm layer (several ranks, the default): ghosts within one cutoff, edges into local atoms
     only; after each layer the ghosts' new features come from their owners (forward
     communication), and in the backward pass the gradients of ghost features go back to their
     owners (reverse communication) before the previous layer's vector-Jacobian product;
   - comm full: ghosts out to num_layers x r_max, edges into them too, one call of the model. */

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
#include <sys/stat.h>
#include <unordered_map>

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

/* atoms closer than this (Angstrom) are an error: overlapping atoms, never a result (the same value as
   ictp.data.neighbors.MIN_DISTANCE, which training data and ASE use) */
static constexpr double MIN_DISTANCE = 0.1;

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
  comm_arg = "auto";
  mode = Mode::FOLD;
  first_call = true;
  exchange_words = 0;
  exchanged_bytes = 0;
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
  exchanged_bytes = 0;
  if (mode == Mode::LAYER) {    // every rank takes part in the exchanges, also one without atoms
    const ictp::Outputs results = run_layers(num_local);
    if (first_call) log_node_counts(num_local);
    if (num_local == 0) return;
    check_outputs(results, num_local);
    accumulate(results, num_local);
    return;
  }
  if (first_call) log_node_counts(num_local);
  if (num_local == 0) return;    // no energy on this rank, hence no forces either
  const ictp::Outputs results = run_model(num_local, vflag_atom || cvflag_atom);
  check_outputs(results, num_local);
  accumulate(results, num_local);
}

/* ----------------------------------------------------------------------
   a NaN or an infinity in the model's results stops the run: never a result
------------------------------------------------------------------------- */

void PairICTP::check_outputs(const ictp::Outputs &results, int num_local)
{
  const int64_t bad_energies = (~torch::isfinite(results.energies)).sum().item<int64_t>();
  const int64_t bad_forces = (~torch::isfinite(results.forces)).any(1).sum().item<int64_t>();
  if (bad_energies == 0 && bad_forces == 0) return;
  int first = -1;
  for (int n = 0; n < num_local && first < 0; n++)
    if (!std::isfinite(results.energies[n].item<double>())) first = n;
  error->one(FLERR, "pair ictp: the model returned NaN or infinite values ({} of {} atom energies, forces on {} "
             "atoms{}); check the structure for overlapping or lost atoms and the model file",
             bad_energies, num_local, bad_forces,
             first >= 0 ? fmt::format(", first at atom ID {}", atom->tag[atom_of[first]]) : std::string());
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
  if (mode == Mode::FOLD) {
    std::unordered_map<tagint, int> local_of_tag(2 * nlocal);    // memory follows the atoms, not their IDs
    for (int i = 0; i < nlocal; i++) local_of_tag[tag[i]] = i;
    for (int j = nlocal; j < nall; j++) node_of[j] = node_of[local_of_tag.at(tag[j])];
  } else {
    for (int j = nlocal; j < nall; j++) add_node(j);
  }

  receivers.clear();
  senders.clear();
  vectors.clear();
  const double r_max_sq = r_max * r_max, min_sq = MIN_DISTANCE * MIN_DISTANCE;
  const int num_receivers = list->inum + (mode == Mode::FULL ? list->gnum : 0);
  for (int ii = 0; ii < num_receivers; ii++) {
    const int i = list->ilist[ii];
    if (node_of[i] < 0) continue;
    const int *jlist = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      if (node_of[j] < 0) continue;
      const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
      const double rsq = dx * dx + dy * dy + dz * dz;
      if (rsq >= r_max_sq) continue;
      if (rsq < min_sq)
        error->one(FLERR, "pair ictp: atoms {} and {} are {:.3g} Angstrom apart, closer than {} Angstrom: "
                   "overlapping atoms (check the data file, or a too large time step)", tag[i], tag[j],
                   std::sqrt(rsq), MIN_DISTANCE);
      receivers.push_back(node_of[i]);
      senders.push_back(node_of[j]);
      vectors.insert(vectors.end(), {dx, dy, dz});
    }
  }
  return num_local;
}

/* ----------------------------------------------------------------------
   once per run: the mode, and how many atoms, ghosts and edges each rank's model sees
   (min and max over ranks), with the bytes the layer exchange sent in this step
------------------------------------------------------------------------- */

void PairICTP::log_node_counts(int num_local)
{
  first_call = false;
  bigint counts[4] = {num_local, (bigint) atom_of.size() - num_local, (bigint) receivers.size(), exchanged_bytes};
  bigint total[4], low[4], high[4];
  MPI_Allreduce(counts, total, 4, MPI_LMP_BIGINT, MPI_SUM, world);
  MPI_Allreduce(counts, low, 4, MPI_LMP_BIGINT, MPI_MIN, world);
  MPI_Allreduce(counts, high, 4, MPI_LMP_BIGINT, MPI_MAX, world);
  if (comm->me != 0) return;
  if (mode == Mode::FOLD) {
    utils::logmesg(lmp, "ICTP: {} atoms, {} edges; single rank: periodic images folded onto their atoms\n",
                   total[0], total[2]);
    return;
  }
  const double ratio = total[0] ? (double) total[1] / total[0] : 0.0;
  utils::logmesg(lmp, "ICTP: comm {} on {} ranks; per rank {}-{} local atoms, {}-{} ghost nodes, {}-{} edges "
                 "(total {} atoms, ghost/local = {:.2f})\n", mode == Mode::LAYER ? "layer" : "full", comm->nprocs,
                 low[0], high[0], low[1], high[1], low[2], high[2], total[0], ratio);
  if (mode == Mode::LAYER)
    utils::logmesg(lmp, "ICTP: the layer exchange sent {} bytes in this step (all ranks)\n", total[3]);
  if (mode == Mode::FULL && ratio > 20.0)
    error->warning(FLERR, "pair ictp: {:.0f} ghost nodes per atom: the model mostly evaluates ghosts; use "
                   "fewer MPI ranks for a system this small, or comm layer", ratio);
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
   comm layer: the model layer by layer on this rank's local atoms (deploy/layers.py), ghost
   features from their owners after every layer, ghost gradients back to them before every VJP;
   returns what the whole model would for the local atoms (forces on ghosts included)
------------------------------------------------------------------------- */

ictp::Outputs PairICTP::run_layers(int num_local)
{
  const int64_t num_nodes = atom_of.size(), num_ghosts = num_nodes - num_local, num_edges = receivers.size();
  const int T = num_layers;
  const auto &shapes = model->metadata().feature_shapes;
  const auto int64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto float64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto features_dtype = torch::TensorOptions().dtype(model->dtype());
  auto all_species = torch::from_blob(species.data(), {num_nodes}, int64);
  ictp::LayerInputs inputs;
  inputs.species_local = all_species.narrow(0, 0, num_local);
  inputs.species_ghost = all_species.narrow(0, num_local, num_ghosts);
  inputs.edge_index = torch::stack({torch::from_blob(receivers.data(), {num_edges}, int64),
                                    torch::from_blob(senders.data(), {num_edges}, int64)});
  inputs.edge_vectors = torch::from_blob(vectors.data(), {num_edges, 3}, float64);
  auto use = [&](const torch::Tensor &h) {
    inputs.h_local = h.narrow(0, 0, num_local);
    inputs.h_ghost = h.narrow(0, num_local, num_ghosts);
  };
  auto rows = [&](int t) { return torch::zeros({num_nodes, shapes[t][0], shapes[t][1]}, features_dtype); };

  ictp::Outputs out;
  out.energies = torch::zeros({num_local}, float64);
  out.forces = torch::zeros({num_nodes, 3}, float64);
  out.virial = torch::zeros({3, 3}, float64);
  out.atom_virial = torch::zeros({num_nodes, 3, 3}, float64);
  std::string failure;
  try {
    std::vector<torch::Tensor> features{rows(0)};    // layer 0 starts from the species
    for (int t = 0; t + 1 < T; t++) {
      features.push_back(rows(t + 1));
      if (num_local > 0) {
        use(features[t]);
        auto [next, energies] = model->forward_layer(t, inputs, nthreads);
        out.energies += energies;
        features[t + 1].narrow(0, 0, num_local).copy_(next);
      }
      exchange(features[t + 1], false);
    }
    auto grad = torch::zeros({num_local, shapes[0][0], 1}, features_dtype);    // the last layer has no successor
    for (int t = T - 1; t >= 0; t--) {
      auto gradients = rows(t);
      if (num_local > 0) {
        use(features[t]);
        const ictp::LayerGradients g = model->vjp_layer(t, inputs, grad, nthreads);
        if (t == T - 1) out.energies += g.energies;
        out.forces += g.forces;
        out.virial += g.virial;
        out.atom_virial += g.atom_virial;
        gradients.narrow(0, 0, num_local).copy_(g.grad_local);
        gradients.narrow(0, num_local, num_ghosts).copy_(g.grad_ghost);
      }
      if (t == 0) break;    // the species embedding does not depend on positions
      exchange(gradients, true);
      grad = gradients.narrow(0, 0, num_local).contiguous();
    }
  } catch (const c10::Error &e) {
    failure = e.what_without_backtrace();
  } catch (const std::exception &e) {
    failure = e.what();
  }
  if (!failure.empty())
    error->one(FLERR, "pair ictp: the model's layer functions failed on {} local atoms, {} ghosts and {} edges: {}",
               num_local, num_ghosts, num_edges, failure);
  out.energy = out.energies.sum();
  return out;
}

/* ----------------------------------------------------------------------
   node rows [N, C, D] of every local (forward) or ghost (reverse) atom to the other ranks'
   copies, through LAMMPS's communication; float32 rows travel as float32
------------------------------------------------------------------------- */

void PairICTP::exchange(const torch::Tensor &node_rows, bool reverse)
{
  exchanged = node_rows;
  const int64_t bytes = node_rows.size(1) * node_rows.size(2) * node_rows.element_size();
  exchange_words = (bytes + sizeof(double) - 1) / sizeof(double);
  if (exchange_words > comm_forward) error->all(FLERR, "pair ictp: internal error: exchange larger than comm_forward");
  if (reverse)
    comm->reverse_comm(this, exchange_words);
  else
    comm->forward_comm(this, exchange_words);
}

namespace {
/* the bytes of one node row into (or out of) exchange_words doubles of a LAMMPS buffer */
void copy_row(const torch::Tensor &rows, int node, double *buf, int words, bool into_buffer)
{
  if (into_buffer) std::memset(buf, 0, words * sizeof(double));
  if (node < 0) return;    // an atom of a NULL type: not a node
  const int64_t bytes = rows.size(1) * rows.size(2) * rows.element_size();
  char *row = static_cast<char *>(rows.data_ptr()) + node * bytes;
  if (into_buffer)
    std::memcpy(buf, row, bytes);
  else
    std::memcpy(row, buf, bytes);
}

template <typename T> void add_row(const torch::Tensor &rows, int node, const double *buf)
{
  const int64_t n = rows.size(1) * rows.size(2);
  T *row = rows.data_ptr<T>() + node * n;
  const T *values = reinterpret_cast<const T *>(buf);
  for (int64_t k = 0; k < n; k++) row[k] += values[k];
}
}    // namespace

int PairICTP::pack_forward_comm(int n, int *list, double *buf, int /*pbc_flag*/, int * /*pbc*/)
{
  for (int k = 0; k < n; k++) copy_row(exchanged, node_of[list[k]], buf + k * exchange_words, exchange_words, true);
  exchanged_bytes += (bigint) n * exchange_words * sizeof(double);
  return n * exchange_words;
}

void PairICTP::unpack_forward_comm(int n, int first, double *buf)
{
  for (int k = 0; k < n; k++) copy_row(exchanged, node_of[first + k], buf + k * exchange_words, exchange_words, false);
}

int PairICTP::pack_reverse_comm(int n, int first, double *buf)
{
  for (int k = 0; k < n; k++) copy_row(exchanged, node_of[first + k], buf + k * exchange_words, exchange_words, true);
  exchanged_bytes += (bigint) n * exchange_words * sizeof(double);
  return n * exchange_words;
}

void PairICTP::unpack_reverse_comm(int n, int *list, double *buf)
{
  for (int k = 0; k < n; k++) {
    const int node = node_of[list[k]];
    if (node < 0) continue;
    if (exchanged.scalar_type() == torch::kFloat32)
      add_row<float>(exchanged, node, buf + k * exchange_words);
    else
      add_row<double>(exchanged, node, buf + k * exchange_words);
  }
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
   pair_style ictp [device auto|cpu|cuda|cuda:N] [threads N] [comm layer|full]
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
    } else if (key == "comm") {
      if (value != "layer" && value != "full") error->all(FLERR, "pair ictp: comm must be layer or full, not {}", value);
      comm_arg = value;
    } else {
      error->all(FLERR, "pair ictp: unknown keyword {}; pair_style ictp [device auto|cpu|cuda|cuda:N] [threads N] "
                 "[comm layer|full]", key);
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
  struct stat status;
  const bool directory = comm->me == 0 && stat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode);
  int is_directory = directory;
  MPI_Bcast(&is_directory, 1, MPI_INT, 0, world);
  if (is_directory)
    error->all(FLERR, "pair ictp: {} is a directory, not a model file; give the .pt2 or .pth file that "
               "ictp-deploy wrote", path);
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
  if (device_arg.rfind("cuda", 0) == 0 && !torch::cuda::is_available())
    error->all(FLERR, "pair ictp: device {} asked for, but this torch sees no CUDA GPU (a CPU-only build, or no "
               "GPU on this node); use device cpu, or install a CUDA build of torch", device_arg);
  if (device_arg != "auto") {
    device = torch::Device(device_arg);
    if (device.is_cuda() && device.index() >= torch::cuda::device_count())
      error->all(FLERR, "pair ictp: device {} asked for, but this node has {} GPU(s)", device_arg,
                 torch::cuda::device_count());
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

  first_call = true;
  std::string comm_note = "single rank, periodic images folded";
  mode = Mode::FOLD;
  if (comm->nprocs > 1) {
    const bool layer_ok = model->metadata().layer_exchange;
    if (comm_arg == "layer" && !layer_ok)
      error->all(FLERR, "pair ictp: comm layer needs a file with layer functions; re-run ictp-deploy with this "
                 "ictp, or use comm full");
    mode = comm_arg == "full" || !layer_ok ? Mode::FULL : Mode::LAYER;
    if (comm_arg == "auto" && !layer_ok && comm->me == 0)
      error->warning(FLERR, "pair ictp: the model file has no layer functions (an older ictp-deploy): falling "
                     "back to comm full, whose ghosts reach num_layers x r_max; re-run ictp-deploy");
  }
  if (mode == Mode::LAYER) {
    try {
      model->prepare_layers();
    } catch (const std::exception &e) {
      error->all(FLERR, "pair ictp: {}", e.what());
    }
    int words = 0;    // the largest node row exchanged: the features into layers 1..T-1 or their gradients
    for (const auto &shape : model->metadata().feature_shapes)
      words = std::max<int>(words, (shape[0] * shape[1] * torch::elementSize(model->dtype()) + 7) / 8);
    comm_forward = comm_reverse = words;
    comm_note = fmt::format("comm layer: ghosts within one cutoff ({} + skin {} Angstrom), node features "
                            "exchanged after every layer ({} values per atom at most)",
                            r_max, neighbor->skin, words);
  } else if (mode == Mode::FULL) {
    const double needed = num_layers * r_max + neighbor->skin;
    comm->cutghostuser = std::max(comm->cutghostuser, needed);
    comm_note = fmt::format("comm full: communication cutoff {} Angstrom >= {} layers x {} + skin {}",
                            comm->cutghostuser, num_layers, r_max, neighbor->skin);
  }
  ghostneigh = mode == Mode::FULL ? 1 : 0;
  if (force->pair != this) {
    // under pair_style hybrid, LAMMPS sizes its buffers and ghost lists by the hybrid's flags, which it
    // took from its sub-styles at pair_style time, before this model was read
    force->pair->comm_forward = std::max(force->pair->comm_forward, comm_forward);
    force->pair->comm_reverse = std::max(force->pair->comm_reverse, comm_reverse);
    force->pair->ghostneigh = std::max(force->pair->ghostneigh, ghostneigh);
  }
  neighbor->add_request(this, mode == Mode::FULL ? NeighConst::REQ_FULL | NeighConst::REQ_GHOST : NeighConst::REQ_FULL);
  if (comm->me == 0)
    utils::logmesg(lmp, "ICTP: device {}, {} torch thread(s) per rank, {}\n", device.str(), nthreads, comm_note);

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
