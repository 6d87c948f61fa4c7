#ifndef TORCH_EQUIJUMP_KERNELS_H_
#define TORCH_EQUIJUMP_KERNELS_H_

#include "EquiJumpKernels.h"
#include <torch/script.h>
#include <vector>

namespace EquiJumpPlugin {

/**
 * The one implementation of the jump kernel, used on every Platform: it moves positions and velocities through
 * ContextImpl and runs the TorchScript jump module with libtorch on the CPU or a CUDA device.
 */
class TorchIntegrateEquiJumpStepKernel : public IntegrateEquiJumpStepKernel {
public:
    TorchIntegrateEquiJumpStepKernel(std::string name, const OpenMM::Platform& platform)
            : IntegrateEquiJumpStepKernel(name, platform), device(torch::kCPU) {
    }
    void initialize(const OpenMM::System& system, const EquiJumpIntegrator& integrator) override;
    void execute(OpenMM::ContextImpl& context, const EquiJumpIntegrator& integrator, int seed) override;
    double computeKineticEnergy(OpenMM::ContextImpl& context, const EquiJumpIntegrator& integrator) override;
private:
    torch::jit::Module module;
    torch::Device device;
    std::vector<double> masses;
};

} // namespace EquiJumpPlugin

#endif
