/* A file written by ictp-deploy, as pair_style ictp uses it (deployed_model.h). */

#include "deployed_model.h"

#include "json.h"

#include <ATen/Parallel.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/headeronly/version.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

using LAMMPS_NS::json;

namespace ictp {
namespace {

const char *const PACKAGE_MODEL = "forces";    // the model of a package that computes the contract

/* torch's thread count is process-wide: set this call's, give the host process (lmp, or a Python
   script that also uses torch) its own back afterwards */
struct TorchThreads {
  int previous;
  explicit TorchThreads(int n) : previous(at::get_num_threads())
  {
    if (n != previous) at::set_num_threads(n);
  }
  ~TorchThreads()
  {
    if (at::get_num_threads() != previous) at::set_num_threads(previous);
  }
};

std::runtime_error failure(const std::string &message)
{
  return std::runtime_error(message);
}

/* the flags line of /proc/cpuinfo, split into words */
std::vector<std::string> cpu_flags()
{
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    return {std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
  }
  return {};
}

double relative_error(const torch::Tensor &value, const torch::Tensor &reference)
{
  if (reference.numel() == 0) return 0.0;
  const double scale = std::max(reference.abs().max().item<double>(), 1.0);
  return (value - reference).abs().max().item<double>() / scale;
}

}    // namespace

DeployedModel::DeployedModel(const std::string &path, const std::string &bytes, const torch::Device &device) :
    path_(path), device_(device)
{
  bool torchscript = false, package = false;
  try {
    std::istringstream stream(bytes);
    caffe2::serialize::PyTorchStreamReader archive(&stream);
    if (!archive.hasRecord("extra/metadata.json"))
      throw failure(path + " has no metadata.json; write the file with ictp-deploy");
    auto record = archive.getRecord("extra/metadata.json");
    metadata_text_.assign(static_cast<const char *>(std::get<0>(record).get()), std::get<1>(record));
    torchscript = archive.hasRecord("data.pkl");
    for (const auto &name : archive.getAllRecords()) package = package || name.rfind("data/aotinductor/", 0) == 0;
  } catch (const std::runtime_error &) {
    throw;
  } catch (const std::exception &e) {
    throw failure(path + " is not a deployed ictp model (corrupt, truncated or not written by ictp-deploy): " +
                  e.what());
  }
  if (!torchscript && !package)
    throw failure(path + " holds neither TorchScript nor an AOTInductor package; write it with ictp-deploy");
  parse_metadata();
  if (package) check_compiled_for_here();
  try {
    if (package) {
      const c10::DeviceIndex index = device.is_cuda() ? device.index() : -1;
      package_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, PACKAGE_MODEL, false, 1, index);
    } else {
      std::istringstream stream(bytes);
      script_ = torch::jit::load(stream, device);
      script_.eval();
    }
  } catch (const c10::Error &e) {
    throw failure("cannot load " + path + ": " + e.what_without_backtrace() +
                  "\nWrite the file with ictp-deploy; a training checkpoint or a truncated copy does not work");
  } catch (const std::exception &e) {
    throw failure("cannot load " + path + ": " + e.what() + "\nWrite the file with ictp-deploy on this machine");
  }
}

/* ----------------------------------------------------------------------
   metadata.json (docs/deployed_model.md): the fields the pair style uses, checked
------------------------------------------------------------------------- */

void DeployedModel::parse_metadata()
{
  std::string energy_unit, length_unit;
  try {
    const json metadata = json::parse(metadata_text_);
    metadata_.format_version = metadata.at("format_version").get<int>();
    metadata_.format = metadata.value("format", "torchscript");
    metadata_.ictp_version = metadata.value("ictp_version", "?");
    metadata_.torch_version = metadata.value("torch_version", "?");
    metadata_.dtype = metadata.at("dtype").get<std::string>();
    metadata_.species = metadata.at("species").get<std::vector<std::string>>();
    metadata_.atomic_numbers = metadata.at("atomic_numbers").get<std::vector<int>>();
    metadata_.r_max = metadata.at("r_max").get<double>();
    metadata_.num_layers = metadata.at("num_layers").get<int>();
    const auto exchange = metadata.value("exchange", std::vector<std::string>{"full"});
    metadata_.layer_exchange = std::find(exchange.begin(), exchange.end(), "layer") != exchange.end();
    metadata_.feature_shapes = metadata.value("feature_shapes", std::vector<std::vector<int64_t>>{});
    energy_unit = metadata.at("units").at("energy").get<std::string>();
    length_unit = metadata.at("units").at("length").get<std::string>();
  } catch (const std::exception &e) {
    throw failure(path_ + " has no valid metadata.json (" + e.what() + "); write the file with ictp-deploy");
  }
  if (metadata_.format_version > FORMAT_VERSION)
    throw failure(path_ + " has format version " + std::to_string(metadata_.format_version) +
                  ", this plugin reads up to " + std::to_string(FORMAT_VERSION) + "; update ictp");
  static const std::vector<std::string> angstrom{"Å", "A", "Ang", "ang", "Angstrom", "angstrom"};
  if (energy_unit != "eV" || std::find(angstrom.begin(), angstrom.end(), length_unit) == angstrom.end())
    throw failure(path_ + " uses units " + energy_unit + " and " + length_unit +
                  "; the plugin expects eV and Angstrom");
  if (metadata_.species.size() != metadata_.atomic_numbers.size() || metadata_.r_max <= 0 ||
      metadata_.num_layers < 1 ||
      (metadata_.layer_exchange && (int) metadata_.feature_shapes.size() != metadata_.num_layers))
    throw failure("inconsistent metadata.json in " + path_);
}

/* ----------------------------------------------------------------------
   a package runs only with the torch, device kind and CPU instruction set it was compiled for
------------------------------------------------------------------------- */

void DeployedModel::check_compiled_for_here()
{
  const json compiled = json::parse(metadata_text_).value("compiled", json::object());
  const std::string fix = "; re-run ictp-deploy on this machine to compile it here";
  const std::string torch_version = compiled.value("torch_version", "?");
  if (torch_version.rfind(TORCH_VERSION, 0) != 0)
    throw failure(path_ + " was compiled for torch " + torch_version + ", and this is torch " + TORCH_VERSION +
                  fix);
  const std::string device = compiled.value("device", "?"), here = device_.is_cuda() ? "cuda" : "cpu";
  if (device != here) throw failure(path_ + " was compiled for device " + device + ", not " + here + fix);
  if (device_.is_cuda()) return;
  const auto flags = cpu_flags();
  std::string missing;
  for (const auto &flag : compiled.value("cpu_flags", std::vector<std::string>{}))
    if (std::find(flags.begin(), flags.end(), flag) == flags.end()) missing += " " + flag;
  if (!missing.empty())
    throw failure(path_ + " was compiled for CPUs with the " + compiled.value("cpu_isa", "?") +
                  " instruction set, which this CPU lacks (no" + missing + ")" + fix);
}

/* ----------------------------------------------------------------------
   the contract on one graph
------------------------------------------------------------------------- */

Outputs DeployedModel::run(const torch::Tensor &species, const torch::Tensor &edge_index,
                           const torch::Tensor &vectors, int64_t num_local, bool virial, bool atom_virial,
                           int threads)
{
  TorchThreads thread_guard(threads);
  Outputs out;
  if (package_) {
    auto local = torch::tensor(num_local, torch::TensorOptions().dtype(torch::kInt64));
    auto results = package_->run({species.to(device_), edge_index.to(device_), vectors.to(device_),
                                  local.to(device_)});
    out.energy = results.at(0).cpu();
    out.energies = results.at(1).narrow(0, 0, num_local).cpu();
    out.forces = results.at(2).cpu().contiguous();
    if (virial) out.virial = results.at(3).cpu();
    if (atom_virial) out.atom_virial = results.at(4).cpu().contiguous();
    return out;
  }
  // with the optimising graph executor, torch returns wrong gradients after some calls
  torch::jit::GraphOptimizerEnabledGuard no_optimizer(false);
  std::vector<torch::jit::IValue> inputs{species.to(device_), edge_index.to(device_), vectors.to(device_),
                                         num_local, virial, atom_virial};
  auto results = script_.forward(inputs).toGenericDict();
  out.energy = results.at("energy").toTensor().cpu();
  out.energies = results.at("energies").toTensor().cpu();
  out.forces = results.at("forces").toTensor().cpu().contiguous();
  if (virial) out.virial = results.at("virial").toTensor().cpu();
  if (atom_virial) out.atom_virial = results.at("atom_virial").toTensor().cpu().contiguous();
  return out;
}

/* ----------------------------------------------------------------------
   the reference graphs of metadata.json, evaluated and compared with the results recorded at export
------------------------------------------------------------------------- */

void DeployedModel::self_test(int threads)
{
  const json metadata = json::parse(metadata_text_);
  const double tolerance = metadata_.dtype == "float32" ? 1e-5 : 1e-10;
  const auto int64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto float64 = torch::TensorOptions().dtype(torch::kFloat64);
  std::string failures;
  int k = 0;
  for (const auto &entry : metadata.at("reference")) {
    if (!entry.contains("graph")) continue;    // files of format version 1
    const auto &graph = entry.at("graph");
    const auto species_list = graph.at("species").get<std::vector<int64_t>>();
    const auto edges = graph.at("edge_index").get<std::vector<std::vector<int64_t>>>();
    const auto vector_list = graph.at("edge_vectors").get<std::vector<std::vector<double>>>();
    const int64_t num_nodes = species_list.size(), num_edges = vector_list.size();
    std::vector<int64_t> flat_edges(edges.at(0));
    flat_edges.insert(flat_edges.end(), edges.at(1).begin(), edges.at(1).end());
    std::vector<double> flat_vectors;
    for (const auto &v : vector_list) flat_vectors.insert(flat_vectors.end(), v.begin(), v.end());
    const auto species = torch::tensor(species_list, int64);
    const auto edge_index = torch::tensor(flat_edges, int64).reshape({2, num_edges});
    const auto vectors = torch::tensor(flat_vectors, float64).reshape({num_edges, 3});
    const Outputs out = run(species, edge_index, vectors, num_nodes, true, false, threads);

    const auto as_tensor = [&](const json &value, std::vector<int64_t> shape) {
      std::vector<double> flat;
      if (value.is_number()) flat.push_back(value.get<double>());
      for (const auto &row : value.is_array() ? value : json::array())
        for (const auto &x : row.is_array() ? row : json::array({row})) flat.push_back(x.get<double>());
      return torch::tensor(flat, float64).reshape(shape);
    };
    const std::vector<std::pair<std::string, double>> errors{
        {"energy", relative_error(out.energy.reshape({1}), as_tensor(entry.at("energy"), {1}))},
        {"forces", relative_error(out.forces, as_tensor(entry.at("forces"), {num_nodes, 3}))},
        {"virial", relative_error(out.virial, as_tensor(entry.at("virial"), {3, 3}))}};
    for (const auto &[name, error] : errors)
      if (!(error <= tolerance))
        failures += " structure " + std::to_string(k) + " " + name + ": relative error " + std::to_string(error) +
                    " > " + std::to_string(tolerance) + ";";
    k++;
  }
  if (!failures.empty())
    throw failure(path_ + " does not reproduce the results recorded at export:" + failures +
                  " re-run ictp-deploy with this installation");
}

/* ----------------------------------------------------------------------
   the layer functions (deploy/layers.py): TorchScript methods, or a package's models
   "layer{t}" and "layer{t}_vjp"
------------------------------------------------------------------------- */

torch::inductor::AOTIModelPackageLoader &DeployedModel::layer_model(const std::string &name)
{
  auto found = layer_models_.find(name);
  if (found != layer_models_.end()) return *found->second;
  const c10::DeviceIndex index = device_.is_cuda() ? device_.index() : -1;
  try {
    auto loaded = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path_, name, false, 1, index);
    return *(layer_models_[name] = std::move(loaded));
  } catch (const std::exception &e) {
    throw failure("cannot load the layer function " + name + " of " + path_ + ": " + e.what() +
                  "\nre-run ictp-deploy with this ictp, or use pair_style ictp comm full");
  }
}

void DeployedModel::prepare_layers()
{
  if (!metadata_.layer_exchange)
    throw failure(path_ + " has no layer functions (written by an older ictp-deploy); re-run ictp-deploy, or use "
                  "pair_style ictp comm full");
  if (!package_) return;
  for (int t = 0; t < metadata_.num_layers; t++) {
    if (t < metadata_.num_layers - 1) layer_model("layer" + std::to_string(t));
    layer_model("layer" + std::to_string(t) + "_vjp");
  }
}

std::vector<torch::Tensor> DeployedModel::run_layer(int t, const LayerInputs &in, const torch::Tensor *grad,
                                                    int threads)
{
  TorchThreads thread_guard(threads);
  std::vector<torch::Tensor> tensors{in.h_local.to(device_),       in.h_ghost.to(device_),
                                     in.species_local.to(device_), in.species_ghost.to(device_),
                                     in.edge_index.to(device_),    in.edge_vectors.to(device_)};
  if (grad) tensors.push_back(grad->to(device_));
  std::vector<torch::Tensor> out;
  if (package_) {
    out = layer_model("layer" + std::to_string(t) + (grad ? "_vjp" : "")).run(tensors);
  } else {
    torch::jit::GraphOptimizerEnabledGuard no_optimizer(false);
    std::vector<torch::jit::IValue> inputs{(int64_t) t};
    inputs.insert(inputs.end(), tensors.begin(), tensors.end());
    auto result = script_.get_method(grad ? "vjp_layer" : "forward_layer")(inputs).toTuple();
    for (const auto &value : result->elements()) out.push_back(value.toTensor());
  }
  for (auto &tensor : out) tensor = tensor.cpu().contiguous();
  return out;
}

std::pair<torch::Tensor, torch::Tensor> DeployedModel::forward_layer(int t, const LayerInputs &inputs, int threads)
{
  auto out = run_layer(t, inputs, nullptr, threads);
  return {out.at(0), out.at(1)};
}

LayerGradients DeployedModel::vjp_layer(int t, const LayerInputs &inputs, const torch::Tensor &grad, int threads)
{
  auto out = run_layer(t, inputs, &grad, threads);
  return {out.at(0), out.at(1), out.at(2), out.at(3), out.at(4), out.at(5)};
}

}    // namespace ictp
