#include "TorchEquiJumpKernels.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/windowsExport.h"

using namespace EquiJumpPlugin;
using namespace OpenMM;

namespace {

class EquiJumpKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const override {
        if (name == IntegrateEquiJumpStepKernel::Name())
            return new TorchIntegrateEquiJumpStepKernel(name, platform);
        throw OpenMMException("EquiJumpKernelFactory: no kernel named '" + name + "'");
    }
};

} // namespace

void EquiJumpPlugin::registerEquiJumpKernelFactories() {
    const std::vector<std::string> names = {IntegrateEquiJumpStepKernel::Name()};
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (!platform.supportsKernels(names))
            platform.registerKernelFactory(names[0], new EquiJumpKernelFactory());
    }
}

// Entry points OpenMM calls when it loads this library from a plugin directory.
extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    registerEquiJumpKernelFactories();
}
