/* A file written by ictp-deploy, as pair_style ictp uses it: either format behind one call.

   The two formats (docs/deployed_model.md) are a compiled AOTInductor package (.pt2, run through
   torch::inductor::AOTIModelPackageLoader) and TorchScript (.pth, torch::jit). Both hold
   extra/metadata.json; the format is told by the archive's contents, not the file name. Errors are
   std::runtime_error with a message that names the file and the fix; the pair style turns them into
   LAMMPS errors. */

#ifndef ICTP_DEPLOYED_MODEL_H
#define ICTP_DEPLOYED_MODEL_H

#include <torch/script.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <memory>
#include <string>
#include <vector>

namespace ictp {

/* what the pair style needs of metadata.json */
struct Metadata {
  int format_version = 0;
  std::string format;    // "aotinductor" or "torchscript"
  std::string ictp_version, torch_version, dtype;
  std::vector<std::string> species;    // element symbol of each model species
  std::vector<int> atomic_numbers;     // the same as atomic numbers
  double r_max = 0.0;                  // cutoff (Angstrom)
  int num_layers = 0;                  // message-passing layers
};

/* the contract's outputs, float64 on the CPU; virial and atom_virial only when asked for */
struct Outputs {
  torch::Tensor energy, energies, forces, virial, atom_virial;
};

class DeployedModel {
 public:
  static constexpr int FORMAT_VERSION = 2;    // the newest metadata format this plugin reads

  /* path: the file (a package is opened by name); bytes: its contents (read once, sent to every rank) */
  DeployedModel(const std::string &path, const std::string &bytes, const torch::Device &device);

  /* the contract (docs/deployed_model.md) on one graph; inputs on the CPU */
  Outputs run(const torch::Tensor &species, const torch::Tensor &edge_index, const torch::Tensor &vectors,
              int64_t num_local, bool virial, bool atom_virial, int threads);

  /* evaluate the reference graphs of metadata.json and throw if the results differ from those recorded
     at export beyond the dtype's tolerance (other libraries, another CPU, a corrupted file) */
  void self_test(int threads);

  const Metadata &metadata() const { return metadata_; }

 private:
  std::string path_, metadata_text_;
  torch::Device device_;
  Metadata metadata_;
  torch::jit::Module script_;                                          // TorchScript
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> package_;    // AOTInductor

  void parse_metadata();
  void check_compiled_for_here();
};

}    // namespace ictp

#endif
