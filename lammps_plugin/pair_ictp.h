/* pair_style ictp: an ICTP model written by ictp-deploy (TorchScript), run through libtorch. */

#ifndef LMP_PAIR_ICTP_H
#define LMP_PAIR_ICTP_H

#include "pair.h"

#include <torch/script.h>

#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairICTP : public Pair {
 public:
  PairICTP(class LAMMPS *);
  ~PairICTP() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 protected:
  // pair_style keywords
  std::string device_arg;    // auto, cpu, cuda or cuda:N
  int nthreads;              // torch intra-op threads per rank

  // the model file (pair_coeff) and its metadata.json
  torch::jit::Module model;
  torch::Device device;
  double r_max;                          // cutoff (Angstrom)
  int num_layers;                        // message-passing layers
  std::vector<std::string> model_species;    // element symbol of each model species
  std::vector<int> number_of_species;        // atomic number of each model species
  std::vector<int> species_of_type;          // model species index of each LAMMPS type, -1 for NULL

  // set by init_style
  double energy_conversion;    // eV -> LAMMPS energy unit
  bool fold_ghosts;            // single rank: ghosts are folded onto the atoms they image
  bool first_call;             // log the node counts once per run

  // the graph of this step (buffers reused between steps)
  std::vector<int> node_of, atom_of, local_of_tag;
  std::vector<int64_t> species, receivers, senders;
  std::vector<double> vectors;

  // what the model returns, on the CPU
  struct Results {
    torch::Tensor energy, energies, forces, virial, atom_virial;
  };

  void allocate();
  std::string read_model_file(const std::string &path);
  void pick_device();
  void load_model(const std::string &path);
  void parse_metadata(const std::string &path, const std::string &text);
  int build_graph();
  Results run_model(int num_local, bool atom_virial);
  void accumulate(const Results &results, int num_local);
  void log_node_counts(int num_local);
};

}    // namespace LAMMPS_NS

#endif
