#ifndef OPENMM_EQUIJUMP_KERNELS_H_
#define OPENMM_EQUIJUMP_KERNELS_H_

#include "EquiJumpIntegrator.h"
#include "openmm/KernelImpl.h"
#include "openmm/Platform.h"
#include "openmm/System.h"
#include <string>

namespace EquiJumpPlugin {

/** The kernel that performs the jumps of an EquiJumpIntegrator. */
class IntegrateEquiJumpStepKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() {
        return "IntegrateEquiJumpStep";
    }
    IntegrateEquiJumpStepKernel(std::string name, const OpenMM::Platform& platform) : KernelImpl(name, platform) {
    }
    /** Load the jump module and check the System against it. */
    virtual void initialize(const OpenMM::System& system, const EquiJumpIntegrator& integrator) = 0;
    /**
     * Perform one jump: new positions from the module, velocities drawn at the integrator's temperature, time
     * advanced by the step size and the step count by one.
     *
     * @param seed  the integrator's active seed; the jump's seed is derived from it and the step count
     */
    virtual void execute(OpenMM::ContextImpl& context, const EquiJumpIntegrator& integrator, int seed) = 0;
    /** The kinetic energy of the current velocities, in kJ/mol. */
    virtual double computeKineticEnergy(OpenMM::ContextImpl& context, const EquiJumpIntegrator& integrator) = 0;
    /**
     * The state of a stateful jump module (format_version 2) and the positions it belongs to, as opaque bytes;
     * empty for a stateless module or before the first jump.
     */
    virtual std::string getModuleState() const = 0;
    /** Restore bytes from getModuleState(); empty bytes drop the state (it is initialized at the next jump). */
    virtual void setModuleState(const std::string& bytes) = 0;
};

} // namespace EquiJumpPlugin

#endif
