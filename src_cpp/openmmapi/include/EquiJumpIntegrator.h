#ifndef OPENMM_EQUIJUMP_INTEGRATOR_H_
#define OPENMM_EQUIJUMP_INTEGRATOR_H_

#include "openmm/Integrator.h"
#include "openmm/Kernel.h"
#include <string>

namespace EquiJumpPlugin {

/**
 * An Integrator whose every step is one learned jump: a TorchScript "jump module" maps the positions of the
 * whole System (nm) to its positions one jump interval later, after which velocities are drawn from the
 * Maxwell-Boltzmann distribution at the integrator's temperature.
 *
 * The step size is the jump interval (ps); each step advances the Context's time by it and the step count by
 * one, so Simulation, its reporters and checkpoints work unchanged. The jump module is held as the bytes of a
 * serialized TorchScript module (torch.jit.save), which makes a serialized integrator self-contained.
 *
 * The jump module's contract: forward(positions: Tensor[R, n_atoms, 3] float32 nm, seed: int) ->
 * Tensor[R, n_atoms, 3], with attributes n_atoms, atomic_numbers, group_index and expected_group_mass that the
 * System is checked against when a Context is created. A module with format_version 2 is stateful:
 * forward(positions, state: Tensor[R, ...], seed) -> (positions, state) and init_state(positions, seed) -> state;
 * the state is kept per Context, re-initialized when the positions are not those the last jump wrote.
 */
class EquiJumpIntegrator : public OpenMM::Integrator {
public:
    /**
     * @param serializedModule  the bytes of a TorchScript jump module, as written by torch.jit.save
     * @param jumpInterval      the time advanced by one step (one jump), in ps
     * @param temperature       the temperature at which velocities are drawn after each jump, in K
     * @param randomSeed        seed of the jumps and velocities; 0 picks a different one for every Context
     * @param device            where the module runs: "auto" (CUDA when libtorch sees a GPU, else CPU), "cpu",
     *                          "cuda" or "cuda:<index>"
     */
    EquiJumpIntegrator(const std::string& serializedModule, double jumpInterval, double temperature,
                       int randomSeed = 0, const std::string& device = "auto");
    /** The bytes of the TorchScript jump module. */
    const std::string& getSerializedModule() const {
        return serializedModule;
    }
    /** The temperature at which velocities are drawn after each jump, in K. */
    double getTemperature() const {
        return temperature;
    }
    /** Set the temperature at which velocities are drawn after each jump, in K. */
    void setTemperature(double temperature);
    /**
     * The seed given by the user; 0 means a random one is chosen when a Context is created. A State (setState,
     * loadState, XmlSerializer) carries the seed in use when it was made: an integrator with seed 0 continues
     * with it (exactly the saved run), one with an explicit seed keeps its own (as OpenMM's Langevin
     * integrators do). A checkpoint always restores the saved seed.
     */
    int getRandomNumberSeed() const {
        return randomSeed;
    }
    /** Set the seed. It takes effect for Contexts created afterwards (the convention of OpenMM's integrators). */
    void setRandomNumberSeed(int seed) {
        randomSeed = seed;
    }
    /**
     * The seed in use by the Context this integrator is bound to (equal to getRandomNumberSeed() unless that is
     * 0); it is stored in checkpoints and States so that a restored simulation continues exactly.
     */
    int getActiveRandomNumberSeed() const;
    /** The device string given by the user ("auto", "cpu", "cuda" or "cuda:<index>"). */
    const std::string& getDevice() const {
        return device;
    }
    /**
     * The number of CPU threads libtorch uses for a jump (set during the jump, restored after it); 0 leaves
     * libtorch's own setting (one per core). The default, 1, is the fastest on a machine shared with other
     * busy processes, where libtorch's threads wait for each other (bench/bench_threads.py).
     */
    int getNumThreads() const {
        return numThreads;
    }
    /** Set the number of CPU threads of a jump (>= 0; 0 = libtorch's default). Takes effect at the next step. */
    void setNumThreads(int threads);
    /**
     * The state of a stateful jump module (format_version 2) with the positions it belongs to, as opaque bytes:
     * the bound Context's, else what the integrator was read with (XmlSerializer); empty if none. Checkpoints,
     * States and the integrator's XML carry it, so a restored run continues exactly.
     */
    std::string getModuleState() const;
    /** Set what getModuleState() returned; it takes effect now if bound, else when a Context is created. */
    void setModuleState(const std::string& bytes);
    /** Advance the simulation by the given number of jumps. */
    void step(int steps) override;
protected:
    void initialize(OpenMM::ContextImpl& context) override;
    void cleanup() override;
    std::vector<std::string> getKernelNames() override;
    double computeKineticEnergy() override;
    bool kineticEnergyRequiresForce() const override {
        return false;
    }
    void createCheckpoint(std::ostream& stream) const override;
    void loadCheckpoint(std::istream& stream) override;
    void serializeParameters(OpenMM::SerializationNode& node) const override;
    void deserializeParameters(const OpenMM::SerializationNode& node) override;
private:
    std::string serializedModule, device, pendingModuleState;
    double temperature;
    int randomSeed, activeSeed, numThreads;
    OpenMM::Kernel kernel;
};

/**
 * Register the kernel factory of the jump kernel with every Platform known to OpenMM that lacks it. Called
 * when the library is loaded as a plugin and by the EquiJumpIntegrator constructor, so platforms loaded later
 * get it too.
 */
void registerEquiJumpKernelFactories();

} // namespace EquiJumpPlugin

#endif
