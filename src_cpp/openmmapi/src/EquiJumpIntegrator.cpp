#include "EquiJumpIntegrator.h"
#include "EquiJumpIntegratorProxy.h"
#include "EquiJumpKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/OSRngSeed.h"
#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>

using namespace EquiJumpPlugin;
using namespace OpenMM;

namespace {
// Marks the module state after the seed in a checkpoint (checkpoints written before it end at the seed).
const int32_t STATE_MARKER = 0x45514A32;
}

EquiJumpIntegrator::EquiJumpIntegrator(const std::string& serializedModule, double jumpInterval, double temperature,
                                       int randomSeed, const std::string& device)
        : serializedModule(serializedModule), device(device), randomSeed(randomSeed), activeSeed(randomSeed),
          numThreads(1) {
    if (serializedModule.empty())
        throw OpenMMException("EquiJumpIntegrator: the serialized jump module is empty; pass the bytes written by "
                              "torch.jit.save");
    if (!(jumpInterval > 0))
        throw OpenMMException("EquiJumpIntegrator: the jump interval must be positive (ps), got " +
                              std::to_string(jumpInterval));
    setStepSize(jumpInterval);
    setTemperature(temperature);
    setConstraintTolerance(1e-5);
    registerEquiJumpKernelFactories();
}

void EquiJumpIntegrator::setTemperature(double temperature) {
    if (!(temperature >= 0) || std::isinf(temperature))
        throw OpenMMException("EquiJumpIntegrator: the temperature must be a finite number >= 0 (K), got " +
                              std::to_string(temperature));
    this->temperature = temperature;
}

void EquiJumpIntegrator::setNumThreads(int threads) {
    if (threads < 0)
        throw OpenMMException("EquiJumpIntegrator: the number of threads must be >= 0 (0 = libtorch's default), got " +
                              std::to_string(threads));
    numThreads = threads;
}

int EquiJumpIntegrator::getActiveRandomNumberSeed() const {
    if (owner == NULL)
        throw OpenMMException("EquiJumpIntegrator: the active seed exists only once the integrator is bound to a "
                              "Context");
    return activeSeed;
}

void EquiJumpIntegrator::initialize(ContextImpl& contextRef) {
    if (owner != NULL && &contextRef.getOwner() != owner)
        throw OpenMMException("This Integrator is already bound to a context");
    context = &contextRef;
    owner = &contextRef.getOwner();
    // Seed 0 asks for a random seed (OpenMM's convention); it is drawn once per Context and then kept, so that
    // the step count alone determines each jump's seed from here on.
    activeSeed = randomSeed;
    while (activeSeed == 0)
        activeSeed = osrngseed();
    kernel = context->getPlatform().createKernel(IntegrateEquiJumpStepKernel::Name(), contextRef);
    kernel.getAs<IntegrateEquiJumpStepKernel>().initialize(contextRef.getSystem(), *this);
    kernel.getAs<IntegrateEquiJumpStepKernel>().setModuleState(pendingModuleState);
}

std::string EquiJumpIntegrator::getModuleState() const {
    if (owner == NULL)
        return pendingModuleState;
    return kernel.getAs<IntegrateEquiJumpStepKernel>().getModuleState();
}

void EquiJumpIntegrator::setModuleState(const std::string& bytes) {
    pendingModuleState = bytes;
    if (owner != NULL)
        kernel.getAs<IntegrateEquiJumpStepKernel>().setModuleState(bytes);
}

void EquiJumpIntegrator::cleanup() {
    kernel = Kernel();
}

std::vector<std::string> EquiJumpIntegrator::getKernelNames() {
    return {IntegrateEquiJumpStepKernel::Name()};
}

double EquiJumpIntegrator::computeKineticEnergy() {
    return kernel.getAs<IntegrateEquiJumpStepKernel>().computeKineticEnergy(*context, *this);
}

void EquiJumpIntegrator::step(int steps) {
    if (context == NULL)
        throw OpenMMException("This Integrator is not bound to a context!");
    for (int i = 0; i < steps; ++i)
        kernel.getAs<IntegrateEquiJumpStepKernel>().execute(*context, *this, activeSeed);
}

void EquiJumpIntegrator::createCheckpoint(std::ostream& stream) const {
    stream.write(reinterpret_cast<const char*>(&activeSeed), sizeof(activeSeed));
    std::string state = getModuleState();
    uint64_t size = state.size();
    stream.write(reinterpret_cast<const char*>(&STATE_MARKER), sizeof(STATE_MARKER));
    stream.write(reinterpret_cast<const char*>(&size), sizeof(size));
    stream.write(state.data(), size);
}

void EquiJumpIntegrator::loadCheckpoint(std::istream& stream) {
    int seed;
    stream.read(reinterpret_cast<char*>(&seed), sizeof(seed));
    if (!stream)
        throw OpenMMException("EquiJumpIntegrator: the checkpoint ends before the integrator's seed; was it "
                              "written by an EquiJumpIntegrator?");
    activeSeed = seed;
    std::string state;
    std::streampos afterSeed = stream.tellg();
    int32_t marker = 0;
    stream.read(reinterpret_cast<char*>(&marker), sizeof(marker));
    if (stream && marker == STATE_MARKER) {
        uint64_t size = 0;
        stream.read(reinterpret_cast<char*>(&size), sizeof(size));
        state.resize(size);
        stream.read(&state[0], size);
        if (!stream)
            throw OpenMMException("EquiJumpIntegrator: the checkpoint ends inside the jump module's state");
    }
    else {  // a checkpoint from before module states: what follows belongs to the platform
        stream.clear();
        stream.seekg(afterSeed);
    }
    setModuleState(state);
}

void EquiJumpIntegrator::serializeParameters(SerializationNode& node) const {
    node.setIntProperty("activeSeed", activeSeed);
    std::string state = getModuleState();
    if (!state.empty())
        node.setStringProperty("moduleState", encodeBase64(state));
}

void EquiJumpIntegrator::deserializeParameters(const SerializationNode& node) {
    // An explicit seed wins over the State's: "equilibrate once, save the State, launch N seeds" must give N
    // different runs. With seed 0 the State's seed continues the saved run exactly.
    if (randomSeed == 0 && node.hasProperty("activeSeed"))
        activeSeed = node.getIntProperty("activeSeed");
    setModuleState(node.hasProperty("moduleState") ? decodeBase64(node.getStringProperty("moduleState")) : "");
}
