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

#include <map>
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
  bool layer_exchange = false;         // the file has the layer-by-layer functions ("exchange": [..., "layer"])
  std::vector<std::vector<int64_t>> feature_shapes;    // [C, D_t] of layer t's input features
};

/* the contract's outputs, float64 on the CPU; virial and atom_virial only when asked for */
struct Outputs {
  torch::Tensor energy, energies, forces, virial, atom_virial;
};

/* one rank's graph for the layer functions: local atoms, ghosts, edges into the local atoms
   (docs/deployed_model.md); features in the model's dtype, on the CPU */
struct LayerInputs {
  torch::Tensor h_local, h_ghost, species_local, species_ghost, edge_index, edge_vectors;
};

/* a layer's vector-Jacobian product: energies [nl], feature gradients (model dtype), forces [N, 3],
   virial [3, 3], per-atom virials [N, 3, 3] of this layer's edges (float64), on the CPU */
struct LayerGradients {
  torch::Tensor energies, grad_local, grad_ghost, forces, virial, atom_virial;
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

  /* layer t's new local features [nl, C, D_{t+1}] and energies [nl] (t below the last layer) */
  std::pair<torch::Tensor, torch::Tensor> forward_layer(int t, const LayerInputs &inputs, int threads);

  /* layer t recomputed, and its VJP for the upstream gradient of its new features [nl, C, D_{t+1}] */
  LayerGradients vjp_layer(int t, const LayerInputs &inputs, const torch::Tensor &grad, int threads);

  /* load the layer functions (a package's layer models) now, so that errors show at setup */
  void prepare_layers();

  torch::ScalarType dtype() const { return metadata_.dtype == "float32" ? torch::kFloat32 : torch::kFloat64; }

  const Metadata &metadata() const { return metadata_; }

 private:
  std::string path_, metadata_text_;
  torch::Device device_;
  Metadata metadata_;
  torch::jit::Module script_;                                          // TorchScript
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> package_;    // AOTInductor
  std::map<std::string, std::unique_ptr<torch::inductor::AOTIModelPackageLoader>> layer_models_;

  void parse_metadata();
  torch::inductor::AOTIModelPackageLoader &layer_model(const std::string &name);
  std::vector<torch::Tensor> run_layer(int t, const LayerInputs &inputs, const torch::Tensor *grad, int threads);
  void check_compiled_for_here();
};

}    // namespace ictp

#endif
