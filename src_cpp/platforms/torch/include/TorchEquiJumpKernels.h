#ifndef TORCH_EQUIJUMP_KERNELS_H_
#define TORCH_EQUIJUMP_KERNELS_H_

#include "EquiJumpKernels.h"
#include <torch/script.h>
#include <vector>

namespace EquiJumpPlugin {

/**
 * The one implementation of the jump kernel, used on every Platform: it moves positions and velocities through
 * ContextImpl and runs the TorchScript jump module with libtorch on the CPU or a CUDA device.
 *
 * A stateful module (format_version 2) carries a state Tensor from jump to jump: forward(positions, state, seed)
 * -> (positions, state), and init_state(positions, seed) -> state. The kernel keeps the state with the positions
 * it wrote; when the Context's positions are not those (the user set new ones), the state is initialized again.
 */
class TorchIntegrateEquiJumpStepKernel : public IntegrateEquiJumpStepKernel {
public:
    TorchIntegrateEquiJumpStepKernel(std::string name, const OpenMM::Platform& platform)
            : IntegrateEquiJumpStepKernel(name, platform), device(torch::kCPU) {
    }
    void initialize(const OpenMM::System& system, const EquiJumpIntegrator& integrator) override;
    void execute(OpenMM::ContextImpl& context, const EquiJumpIntegrator& integrator, int seed) override;
    double computeKineticEnergy(OpenMM::ContextImpl& context, const EquiJumpIntegrator& integrator) override;
    std::string getModuleState() const override;
    void setModuleState(const std::string& bytes) override;
private:
    torch::jit::Module module;
    torch::Device device;
    std::vector<double> masses;
    bool stateful = false;
    torch::Tensor moduleState;              // on the module's device; undefined until the first jump
    std::vector<OpenMM::Vec3> statePositions; // the positions moduleState belongs to (what the last jump wrote)
};

} // namespace EquiJumpPlugin

#endif
