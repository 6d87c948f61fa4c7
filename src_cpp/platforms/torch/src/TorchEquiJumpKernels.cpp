#include "TorchEquiJumpKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/cuda.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <cstdint>
#include <sstream>

using namespace EquiJumpPlugin;
using namespace OpenMM;

namespace {

const double BOLTZMANN = 0.00831446261815324; // kJ/(mol K)
const double MASS_TOLERANCE = 0.01;            // amu; well above rounding in force field files, far below 1 H
const int NEWEST_FORMAT = 2;                   // 1: forward(positions, seed); 2: stateful (see the header)
// Positions differing from what the last jump wrote by more than this (nm) were set by the user: a new state.
// Far above what a single- or mixed-precision platform changes in stored positions, far below any real move.
const double SAME_POSITIONS_NM = 1e-5;
// Positions beyond this (nm) are no protein's: the input is at fault (a unit or file error), not the model.
const double MAX_POSITION_NM = 1e4;
// Mixed into the jump's random state for init_state, so its seed differs from the jump's own.
const uint64_t INIT_STATE_SALT = 0x5DEECE66DULL;

const std::string REBIND_ADVICE = "Rebind the model to this System's topology (load_model(..., topology=...) or "
                                  "export_jump_module) and create the System from that same topology.";

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/** The state every random number of one jump derives from: a function of the seed and step count only. */
uint64_t jumpState(int seed, long long stepCount) {
    uint64_t state = (static_cast<uint64_t>(static_cast<uint32_t>(seed)) << 32) ^ static_cast<uint64_t>(stepCount);
    return splitmix64(state);
}

/** libtorch's intra-op thread count set for a scope and restored after it (0: left as it is). */
class ThreadCountGuard {
public:
    explicit ThreadCountGuard(int threads) : previous(at::get_num_threads()) {
        changed = threads > 0 && threads != previous;
        if (changed)
            at::set_num_threads(threads);
    }
    ~ThreadCountGuard() {
        if (changed)
            at::set_num_threads(previous);
    }
private:
    int previous;
    bool changed;
};

bool samePositions(const std::vector<Vec3>& a, const std::vector<Vec3>& b) {
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); i++)
        for (int k = 0; k < 3; k++)
            if (std::fabs(a[i][k] - b[i][k]) > SAME_POSITIONS_NM)
                return false;
    return true;
}

torch::Device resolveDevice(const std::string& name) {
    if (name == "auto")
        return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    torch::Device device(torch::kCPU);
    try {
        device = torch::Device(name);
    }
    catch (const c10::Error&) {
        throw OpenMMException("EquiJumpIntegrator: unknown device '" + name +
                              "'; use \"auto\", \"cpu\", \"cuda\" or \"cuda:<index>\"");
    }
    if (!device.is_cpu() && !device.is_cuda())
        throw OpenMMException("EquiJumpIntegrator: device '" + name + "' is not supported; use \"auto\", \"cpu\", "
                              "\"cuda\" or \"cuda:<index>\"");
    if (device.is_cuda()) {
        int count = static_cast<int>(torch::cuda::device_count());
        int index = device.has_index() ? device.index() : 0;
        if (index >= count)
            throw OpenMMException("EquiJumpIntegrator: device '" + name + "' requested, but libtorch sees " +
                                  std::to_string(count) + " CUDA device(s); use \"auto\" or \"cpu\"");
    }
    return device;
}

torch::IValue moduleAttribute(const torch::jit::Module& module, const std::string& name) {
    if (!module.hasattr(name))
        throw OpenMMException("EquiJumpIntegrator: the jump module has no attribute '" + name +
                              "'; it is not a jump module (export one with openmm_equijump.export_jump_module)");
    return module.attr(name);
}

torch::Tensor perAtomAttribute(const torch::jit::Module& module, const std::string& name, int numAtoms,
                               torch::ScalarType type) {
    torch::IValue value = moduleAttribute(module, name);
    if (!value.isTensor())
        throw OpenMMException("EquiJumpIntegrator: the jump module's attribute '" + name + "' is not a Tensor");
    torch::Tensor tensor = value.toTensor();
    if (tensor.dim() != 1 || tensor.size(0) != numAtoms)
        throw OpenMMException("EquiJumpIntegrator: the jump module's attribute '" + name + "' must have shape (" +
                              std::to_string(numAtoms) + ",) = (n_atoms,)");
    return tensor.to(torch::kCPU, type).contiguous();
}

} // namespace

void TorchIntegrateEquiJumpStepKernel::initialize(const System& system, const EquiJumpIntegrator& integrator) {
    device = resolveDevice(integrator.getDevice());
    std::istringstream stream(integrator.getSerializedModule());
    try {
        module = torch::jit::load(stream, device);
    }
    catch (const c10::Error& e) {
        throw OpenMMException(std::string("EquiJumpIntegrator: cannot read the jump module: ") +
                              e.what_without_backtrace() +
                              "\nPass the bytes of a TorchScript module written by torch.jit.save.");
    }
    module.eval();
    if (!module.find_method("forward"))
        throw OpenMMException("EquiJumpIntegrator: the jump module has no forward(positions, seed) method");
    int format = module.hasattr("format_version") ? static_cast<int>(module.attr("format_version").toInt()) : 1;
    if (format < 1 || format > NEWEST_FORMAT)
        throw OpenMMException("EquiJumpIntegrator: the jump module has format_version " + std::to_string(format) +
                              "; this plugin reads 1 to " + std::to_string(NEWEST_FORMAT) + ": update openmm-equijump");
    stateful = format == 2;
    if (stateful && !module.find_method("init_state"))
        throw OpenMMException("EquiJumpIntegrator: the jump module has format_version 2 (stateful) but no "
                              "init_state(positions, seed) method");
    moduleState = torch::Tensor();
    statePositions.clear();

    int numParticles = system.getNumParticles();
    int numAtoms = static_cast<int>(moduleAttribute(module, "n_atoms").toInt());
    if (numAtoms != numParticles)
        throw OpenMMException("EquiJumpIntegrator: the System has " + std::to_string(numParticles) +
                              " particles, but the jump module was bound to a topology of " +
                              std::to_string(numAtoms) + " atoms. " + REBIND_ADVICE);
    torch::Tensor atomicNumbers = perAtomAttribute(module, "atomic_numbers", numAtoms, torch::kLong);
    torch::Tensor groupIndex = perAtomAttribute(module, "group_index", numAtoms, torch::kLong);
    torch::Tensor expectedMass = perAtomAttribute(module, "expected_group_mass", numAtoms, torch::kDouble);
    const int64_t* group = groupIndex.data_ptr<int64_t>();
    const int64_t* element = atomicNumbers.data_ptr<int64_t>();
    const double* expected = expectedMass.data_ptr<double>();

    // Masses are compared per group (a heavy atom with its hydrogens) because hydrogen mass repartitioning
    // moves mass between the atoms of a group but keeps the group's sum.
    masses.resize(numParticles);
    std::vector<double> groupMass(numParticles, 0.0);
    for (int i = 0; i < numParticles; i++) {
        masses[i] = system.getParticleMass(i);
        if (group[i] < 0 || group[i] >= numParticles)
            throw OpenMMException("EquiJumpIntegrator: the jump module's group_index of atom " + std::to_string(i) +
                                  " is " + std::to_string(group[i]) + ", outside [0, n_atoms); the module is "
                                  "corrupt. " + REBIND_ADVICE);
        groupMass[group[i]] += masses[i];
    }
    for (int i = 0; i < numParticles; i++) {
        double found = groupMass[group[i]];
        if (std::fabs(found - expected[i]) > MASS_TOLERANCE) {
            std::ostringstream message;
            message << "EquiJumpIntegrator: the System does not match the jump module at particle " << i
                    << " (atomic number " << element[i] << " in the module): the mass of its group (particle "
                    << group[i] << " and the hydrogens bonded to it) is " << found
                    << " amu in the System, but the module expects " << expected[i] << " amu. " << REBIND_ADVICE;
            throw OpenMMException(message.str());
        }
    }
}

void TorchIntegrateEquiJumpStepKernel::execute(ContextImpl& context, const EquiJumpIntegrator& integrator,
                                               int seed) {
    const int numParticles = static_cast<int>(masses.size());
    const long long stepCount = context.getStepCount();
    std::vector<Vec3> positions;
    context.getPositions(positions);
    for (int i = 0; i < numParticles; i++)
        for (int k = 0; k < 3; k++)
            if (!std::isfinite(positions[i][k]) || std::fabs(positions[i][k]) > MAX_POSITION_NM) {
                std::ostringstream message;
                message << "EquiJumpIntegrator: the positions given to the jump at step " << stepCount
                        << " are not usable: particle " << i << " is at (" << positions[i][0] << ", "
                        << positions[i][1] << ", " << positions[i][2] << ") nm ("
                        << (std::isfinite(positions[i][k]) ? "beyond 1e4 nm" : "not finite")
                        << "). The input is at fault, not the model: set the Context's positions in nm.";
                throw OpenMMException(message.str());
            }
    torch::Tensor input = torch::empty({1, numParticles, 3}, torch::kFloat);
    float* in = input.data_ptr<float>();
    for (int i = 0; i < numParticles; i++)
        for (int k = 0; k < 3; k++)
            in[3 * i + k] = static_cast<float>(positions[i][k]);

    uint64_t state = jumpState(seed, stepCount);
    const int64_t moduleSeed = static_cast<int64_t>(splitmix64(state) >> 1);
    torch::Tensor output, newState;
    {
        torch::NoGradGuard noGrad;
        // The profiling executor spends tens of seconds specializing a scripted e3nn jump in its first two calls;
        // without it the first jump costs what the later ones do, which run within 10-30% of optimized ones on
        // the CPU (bench/bench_integrator_overhead.py). Scoped: the user's own TorchScript keeps its setting.
        torch::jit::GraphOptimizerEnabledGuard unoptimized(false);
        ThreadCountGuard threads(integrator.getNumThreads());
        torch::IValue result;
        try {
            if (stateful) {
                torch::Tensor current = moduleState;
                if (!current.defined() || !samePositions(positions, statePositions)) {
                    uint64_t initState = jumpState(seed, stepCount) ^ INIT_STATE_SALT;
                    const int64_t initSeed = static_cast<int64_t>(splitmix64(initState) >> 1);
                    current = module.run_method("init_state", input.to(device), initSeed).toTensor();
                }
                result = module.forward({input.to(device), current, moduleSeed});
                if (!result.isTuple() || result.toTuple()->elements().size() != 2 ||
                    !result.toTuple()->elements()[1].isTensor())
                    throw OpenMMException("a stateful jump module must return (positions, state), it returned " +
                                          result.tagKind());
                newState = result.toTuple()->elements()[1].toTensor();
                result = result.toTuple()->elements()[0];
            }
            else
                result = module.forward({input.to(device), moduleSeed});
        }
        catch (const std::exception& e) {
            throw OpenMMException("EquiJumpIntegrator: the jump module failed at step " + std::to_string(stepCount) +
                                  ": " + e.what());
        }
        if (!result.isTensor())
            throw OpenMMException("EquiJumpIntegrator: the jump module must return a Tensor of shape (1, " +
                                  std::to_string(numParticles) + ", 3), it returned " + result.tagKind());
        output = result.toTensor();
    }
    if (output.dim() != 3 || output.size(0) != 1 || output.size(1) != numParticles || output.size(2) != 3) {
        std::ostringstream message;
        message << "EquiJumpIntegrator: the jump module returned shape " << output.sizes() << ", expected (1, "
                << numParticles << ", 3)";
        throw OpenMMException(message.str());
    }
    output = output.to(torch::kCPU, torch::kDouble).contiguous();
    const double* out = output.data_ptr<double>();
    for (int i = 0; i < 3 * numParticles; i++)
        if (!std::isfinite(out[i]))
            throw OpenMMException("EquiJumpIntegrator: the jump at step " + std::to_string(stepCount) +
                                  " gave a non-finite position for particle " + std::to_string(i / 3) +
                                  " from finite input positions (checked before the jump); the Context was left "
                                  "unchanged. The jump module is at fault: the model is unstable for this "
                                  "structure, or the module is damaged (export it again).");

    for (int i = 0; i < numParticles; i++)
        positions[i] = Vec3(out[3 * i], out[3 * i + 1], out[3 * i + 2]);
    context.setPositions(positions);
    context.computeVirtualSites();
    if (stateful) {  // committed only now: a failed jump leaves the state as it was, like the Context
        moduleState = newState;
        context.getPositions(statePositions);
    }

    // Velocities carry no memory across a jump: they are drawn afresh, from a stream distinct from the module's
    // (float32: libtorch's vectorized normal sampler, several times faster than double for large Systems).
    torch::Tensor normal = torch::randn({numParticles, 3}, at::detail::createCPUGenerator(splitmix64(state)),
                                        torch::TensorOptions().dtype(torch::kFloat));
    const float* z = normal.data_ptr<float>();
    const double kT = BOLTZMANN * integrator.getTemperature();
    std::vector<Vec3> velocities(numParticles);
    for (int i = 0; i < numParticles; i++) {
        if (masses[i] == 0)
            continue;
        double sigma = std::sqrt(kT / masses[i]);
        velocities[i] = Vec3(sigma * z[3 * i], sigma * z[3 * i + 1], sigma * z[3 * i + 2]);
    }
    context.setVelocities(velocities);
    context.applyVelocityConstraints(integrator.getConstraintTolerance());
    context.setTime(context.getTime() + integrator.getStepSize());
    context.setStepCount(stepCount + 1);
}

std::string TorchIntegrateEquiJumpStepKernel::getModuleState() const {
    if (!stateful || !moduleState.defined())
        return "";
    torch::Tensor where = torch::empty({static_cast<int64_t>(statePositions.size()), 3}, torch::kDouble);
    double* xyz = where.data_ptr<double>();
    for (size_t i = 0; i < statePositions.size(); i++)
        for (int k = 0; k < 3; k++)
            xyz[3 * i + k] = statePositions[i][k];
    std::vector<char> bytes = torch::jit::pickle_save(c10::ivalue::Tuple::create({moduleState.cpu(), where}));
    return std::string(bytes.begin(), bytes.end());
}

void TorchIntegrateEquiJumpStepKernel::setModuleState(const std::string& bytes) {
    moduleState = torch::Tensor();
    statePositions.clear();
    if (bytes.empty() || !stateful)
        return;
    torch::IValue saved;
    try {
        saved = torch::jit::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
    }
    catch (const std::exception& e) {
        throw OpenMMException(std::string("EquiJumpIntegrator: the saved jump-module state cannot be read: ") + e.what());
    }
    const auto& parts = saved.toTuple()->elements();
    torch::Tensor where = parts[1].toTensor().to(torch::kDouble).contiguous();
    if (where.size(0) != static_cast<int64_t>(masses.size()))
        throw OpenMMException("EquiJumpIntegrator: the saved jump-module state belongs to " +
                              std::to_string(where.size(0)) + " particles, this System has " +
                              std::to_string(masses.size()));
    const double* xyz = where.data_ptr<double>();
    for (int64_t i = 0; i < where.size(0); i++)
        statePositions.push_back(Vec3(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]));
    moduleState = parts[0].toTensor().to(device);
}

double TorchIntegrateEquiJumpStepKernel::computeKineticEnergy(ContextImpl& context,
                                                              const EquiJumpIntegrator& integrator) {
    // ContextImpl::calcKineticEnergy would call back into the integrator.
    std::vector<Vec3> velocities;
    context.getVelocities(velocities);
    double energy = 0.0;
    for (size_t i = 0; i < masses.size(); i++)
        energy += 0.5 * masses[i] * velocities[i].dot(velocities[i]);
    return energy;
}
