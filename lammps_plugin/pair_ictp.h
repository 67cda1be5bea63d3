/* pair_style ictp: an ICTP model written by ictp-deploy (compiled .pt2 or TorchScript .pth), run
   through libtorch. */

#ifndef LMP_PAIR_ICTP_H
#define LMP_PAIR_ICTP_H

#include "pair.h"

#include "deployed_model.h"

#include <memory>
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
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

 protected:
  // pair_style keywords
  std::string device_arg;    // auto, cpu, cuda or cuda:N
  int nthreads;              // torch intra-op threads per rank
  std::string comm_arg;      // auto, layer or full: how several ranks make message passing exact

  // the model file (pair_coeff), checked against its reference results when read
  std::unique_ptr<ictp::DeployedModel> model;
  torch::Device device;
  double r_max;                          // cutoff (Angstrom), from the model's metadata
  int num_layers;                        // message-passing layers, from the model's metadata
  std::vector<int> species_of_type;      // model species index of each LAMMPS type, -1 for NULL

  // set by init_style: how this run's ranks see the model's receptive field
  //   FOLD  (one rank): ghosts folded onto the atoms they image, the whole model in one call
  //   LAYER (several):  ghosts within one cutoff; node features exchanged after every layer
  //   FULL  (several):  ghosts out to num_layers x r_max, the whole model in one call
  enum class Mode { FOLD, LAYER, FULL };
  Mode mode;
  double energy_conversion;    // eV -> LAMMPS energy unit
  bool first_call;             // log the node counts once per run

  // comm layer: the node rows (features or their gradients) being communicated, and traffic
  torch::Tensor exchanged;
  int exchange_words;        // doubles per atom in LAMMPS's buffers
  bigint exchanged_bytes;    // sent by this rank in this step

  // the graph of this step (buffers reused between steps)
  std::vector<int> node_of, atom_of;
  std::vector<int64_t> species, receivers, senders;
  std::vector<double> vectors;

  void allocate();
  std::string read_model_file(const std::string &path);
  void pick_device();
  void load_model(const std::string &path);
  int build_graph();
  ictp::Outputs run_model(int num_local, bool atom_virial);
  ictp::Outputs run_layers(int num_local);
  void exchange(const torch::Tensor &rows, bool reverse);
  void check_outputs(const ictp::Outputs &results, int num_local);
  void accumulate(const ictp::Outputs &results, int num_local);
  void log_node_counts(int num_local);
};

}    // namespace LAMMPS_NS

#endif
