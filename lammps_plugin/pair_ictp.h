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
  torch::jit::Module model;
  torch::Device device;
  std::string device_arg;       // pair_style keyword: auto, cpu, cuda or cuda:N
  int nthreads;                 // torch intra-op threads per rank
  double r_max;                 // model cutoff (Angstrom)
  int num_layers;               // message-passing layers
  double energy_conversion;     // eV -> LAMMPS energy unit
  std::vector<int> species_of_type;    // model species index of each LAMMPS type, -1 for NULL
  std::vector<int> number_of_species;  // atomic number of each model species
  bool fold_ghosts;             // single rank: ghosts are folded onto the atoms they image
  bool first_call;              // log the node counts once per run

  // buffers reused between steps
  std::vector<int> node_of, atom_of, local_of_tag;
  std::vector<int64_t> species, receivers, senders;
  std::vector<double> vectors;

  void allocate();
  void load_model(const std::string &path, char **elements);
  int build_graph();
  void log_node_counts(int num_local);
};

}    // namespace LAMMPS_NS

#endif
