// Tests of EquiJumpIntegrator on one Platform (argv[1], e.g. Reference or CPU), with jump modules built here in
// TorchScript so that no Python is needed.
#include "EquiJumpIntegrator.h"
#include "openmm/Context.h"
#include "openmm/HarmonicBondForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/serialization/XmlSerializer.h"
#include <torch/script.h>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

using namespace EquiJumpPlugin;
using namespace OpenMM;

namespace {

const double CARBON = 12.011, HYDROGEN = 1.008;
const int GROUP_SIZE = 3; // a carbon and its two hydrogens
std::string platformName;
std::map<std::string, std::string> properties;

/** A jump module for a chain of CH2 groups, with the given TorchScript forward body (or, for a stateful module
 * of format_version 2, the whole source of its forward and init_state methods). */
std::string makeModule(int numAtoms, const std::string& forwardBody, int declaredAtoms = -1,
                       const std::string& statefulMethods = "") {
    torch::jit::Module module("EquiJumpTestModule");
    torch::Tensor atomicNumbers = torch::empty({numAtoms}, torch::kLong);
    torch::Tensor groupIndex = torch::empty({numAtoms}, torch::kLong);
    torch::Tensor groupMass = torch::full({numAtoms}, CARBON + 2 * HYDROGEN, torch::kDouble);
    for (int i = 0; i < numAtoms; i++) {
        atomicNumbers[i] = i % GROUP_SIZE == 0 ? 6 : 1;
        groupIndex[i] = i - i % GROUP_SIZE;
    }
    module.register_attribute("format_version", c10::IntType::get(), statefulMethods.empty() ? 1 : 2);
    module.register_attribute("jump_ps", c10::FloatType::get(), 100.0);
    module.register_attribute("temperature_K", c10::FloatType::get(), 300.0);
    module.register_attribute("n_atoms", c10::IntType::get(), declaredAtoms < 0 ? numAtoms : declaredAtoms);
    module.register_attribute("atomic_numbers", c10::TensorType::get(), atomicNumbers);
    module.register_attribute("group_index", c10::TensorType::get(), groupIndex);
    module.register_attribute("expected_group_mass", c10::TensorType::get(), groupMass);
    if (statefulMethods.empty())
        module.define("def forward(self, positions: Tensor, seed: int) -> Tensor:\n    " + forwardBody + "\n");
    else
        module.define(statefulMethods);
    std::ostringstream bytes;
    module.save(bytes);
    return bytes.str();
}

System makeSystem(int numAtoms, double hydrogenMass = HYDROGEN) {
    System system;
    for (int i = 0; i < numAtoms; i++)
        system.addParticle(i % GROUP_SIZE == 0 ? CARBON + 2 * (HYDROGEN - hydrogenMass) : hydrogenMass);
    return system;
}

std::vector<Vec3> makePositions(int numAtoms) {
    std::vector<Vec3> positions;
    for (int i = 0; i < numAtoms; i++)
        positions.push_back(Vec3(0.15 * i, 0.1 * (i % 2), 0.05 * (i % 3)));
    return positions;
}

std::unique_ptr<Context> makeContext(System& system, Integrator& integrator) {
    std::unique_ptr<Context> context(
            new Context(system, integrator, Platform::getPlatformByName(platformName), properties));
    context->setPositions(makePositions(system.getNumParticles()));
    return context;
}

std::vector<Vec3> positionsOf(Context& context) {
    return context.getState(State::Positions).getPositions();
}

void assertSamePositions(const std::vector<Vec3>& a, const std::vector<Vec3>& b, double tol) {
    ASSERT_EQUAL(a.size(), b.size());
    for (size_t i = 0; i < a.size(); i++)
        ASSERT_EQUAL_VEC(a[i], b[i], tol);
}

template <class F>
std::string messageOf(F&& action) {
    try {
        action();
    }
    catch (const OpenMMException& e) {
        return e.what();
    }
    throw std::runtime_error("expected an OpenMMException");
}

void testJumpAdvancesTimeStepCountAndPositions() {
    const int n = 30;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(makeModule(n, "return positions + 0.5"), 100.0, 300.0, 7);
    auto context = makeContext(system, integrator);
    integrator.step(3);
    State state = context->getState(State::Positions);
    ASSERT_EQUAL_TOL(300.0, state.getTime(), 1e-12);
    ASSERT_EQUAL(3, state.getStepCount());
    std::vector<Vec3> expected = makePositions(n);
    for (int i = 0; i < n; i++)
        ASSERT_EQUAL_VEC(expected[i] + Vec3(1.5, 1.5, 1.5), state.getPositions()[i], 1e-5);
}

void testVelocitiesFollowTemperature() {
    const int n = 3000;
    const double temperature = 350.0;
    System system = makeSystem(n);
    system.setParticleMass(1, 0.0); // a massless particle keeps zero velocity
    system.setParticleMass(0, CARBON + HYDROGEN);
    EquiJumpIntegrator integrator(makeModule(n, "return positions"), 100.0, temperature, 3);
    auto context = makeContext(system, integrator);
    integrator.step(1);
    State state = context->getState(State::Velocities | State::Energy);
    ASSERT_EQUAL_VEC(Vec3(0, 0, 0), state.getVelocities()[1], 0);
    double kineticEnergy = 0;
    for (int i = 0; i < n; i++)
        kineticEnergy += 0.5 * system.getParticleMass(i) * state.getVelocities()[i].dot(state.getVelocities()[i]);
    // computeKineticEnergy sums m v^2 / 2 itself (ContextImpl::calcKineticEnergy would recurse).
    ASSERT_EQUAL_TOL(kineticEnergy, state.getKineticEnergy(), 1e-10);
    double expected = 1.5 * (n - 1) * 0.00831446261815324 * temperature;
    ASSERT_EQUAL_TOL(expected, kineticEnergy, 0.05); // 3N-3 Gaussians: relative spread ~1.5%
}

void testSeedsAndStepCountDetermineJumps() {
    const int n = 12;
    System system = makeSystem(n);
    const std::string module = makeModule(n, "return positions + float(seed % 1000) * 0.001");
    auto run = [&](int seed, int steps) {
        EquiJumpIntegrator integrator(module, 100.0, 300.0, seed);
        auto context = makeContext(system, integrator);
        integrator.step(steps);
        return positionsOf(*context);
    };
    assertSamePositions(run(11, 4), run(11, 4), 0);
    ASSERT(std::fabs(run(11, 4)[0][0] - run(12, 4)[0][0]) > 1e-6);
    // The jump seed changes with the step count: two jumps are not one jump twice over the same shift.
    std::vector<Vec3> one = run(11, 1), two = run(11, 2), start = makePositions(n);
    ASSERT(std::fabs((two[0][0] - one[0][0]) - (one[0][0] - start[0][0])) > 1e-6);
}

void testCheckpointContinuesExactly() {
    const int n = 12;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(makeModule(n, "return positions + float(seed % 1000) * 0.001"), 100.0, 300.0, 0);
    auto context = makeContext(system, integrator);
    integrator.step(2);
    std::stringstream checkpoint;
    context->createCheckpoint(checkpoint);
    integrator.step(3);
    State direct = context->getState(State::Positions | State::Velocities);
    context->loadCheckpoint(checkpoint);
    ASSERT_EQUAL(2, context->getState(State::Positions).getStepCount());
    integrator.step(3);
    State restored = context->getState(State::Positions | State::Velocities);
    assertSamePositions(direct.getPositions(), restored.getPositions(), 0);
    assertSamePositions(direct.getVelocities(), restored.getVelocities(), 0);
    ASSERT_EQUAL(direct.getStepCount(), restored.getStepCount());

    // Seed 0 picks a random seed per Context; a checkpoint carries it to a fresh integrator and Context.
    std::stringstream second;
    context->createCheckpoint(second);
    integrator.step(1);
    std::vector<Vec3> expected = positionsOf(*context);
    EquiJumpIntegrator fresh(integrator.getSerializedModule(), 100.0, 300.0, 0);
    auto freshContext = makeContext(system, fresh);
    freshContext->loadCheckpoint(second);
    ASSERT_EQUAL(integrator.getActiveRandomNumberSeed(), fresh.getActiveRandomNumberSeed());
    fresh.step(1);
    assertSamePositions(expected, positionsOf(*freshContext), 0);
}

void testXmlRoundTripStillJumps() {
    const int n = 12;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(makeModule(n, "return positions + float(seed % 1000) * 0.001"), 100.0, 310.0, 5,
                                  "cpu");
    integrator.setConstraintTolerance(1e-6);
    std::stringstream xml;
    XmlSerializer::serialize<Integrator>(&integrator, "Integrator", xml);
    std::unique_ptr<Integrator> copy(XmlSerializer::deserialize<Integrator>(xml));
    EquiJumpIntegrator* restored = dynamic_cast<EquiJumpIntegrator*>(copy.get());
    ASSERT(restored != NULL);
    ASSERT(restored->getSerializedModule() == integrator.getSerializedModule());
    ASSERT_EQUAL(100.0, restored->getStepSize());
    ASSERT_EQUAL(310.0, restored->getTemperature());
    ASSERT_EQUAL(5, restored->getRandomNumberSeed());
    ASSERT_EQUAL(1e-6, restored->getConstraintTolerance());
    ASSERT(restored->getDevice() == "cpu");
    auto original = makeContext(system, integrator);
    auto copied = makeContext(system, *restored);
    integrator.step(2);
    restored->step(2);
    assertSamePositions(positionsOf(*original), positionsOf(*copied), 0);
}

/** A stateful module whose state is a displacement that doubles every jump, starting at 0.01 nm. */
std::string makeDoublingModule(int numAtoms) {
    return makeModule(numAtoms, "", -1,
            "def init_state(self, positions: Tensor, seed: int) -> Tensor:\n"
            "    return torch.full_like(positions, 0.01)\n"
            "def forward(self, positions: Tensor, state: Tensor, seed: int) -> Tuple[Tensor, Tensor]:\n"
            "    state = 2.0 * state\n"
            "    return positions + state, state\n");
}

double displacementOfNextJump(Context& context, EquiJumpIntegrator& integrator) {
    std::vector<Vec3> before = positionsOf(context);
    integrator.step(1);
    return positionsOf(context)[0][0] - before[0][0];
}

void testStatefulModuleCarriesItsStateAndResetsOnNewPositions() {
    const int n = 6;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(makeDoublingModule(n), 100.0, 300.0, 1);
    auto context = makeContext(system, integrator);
    ASSERT_EQUAL_TOL(0.02, displacementOfNextJump(*context, integrator), 1e-6);
    ASSERT_EQUAL_TOL(0.04, displacementOfNextJump(*context, integrator), 1e-6);
    context->setPositions(makePositions(n));  // positions the integrator did not write: a new chain
    ASSERT_EQUAL_TOL(0.02, displacementOfNextJump(*context, integrator), 1e-6);
}

void testStatefulModuleContinuesAcrossCheckpointsStatesAndXml() {
    const int n = 6;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(makeDoublingModule(n), 100.0, 300.0, 1);
    auto context = makeContext(system, integrator);
    integrator.step(2);  // the state is now 0.04
    std::stringstream checkpoint;
    context->createCheckpoint(checkpoint);
    State state = context->getState(State::Positions | State::Velocities | State::IntegratorParameters);
    std::stringstream xml;
    XmlSerializer::serialize<Integrator>(&integrator, "Integrator", xml);
    ASSERT_EQUAL_TOL(0.08, displacementOfNextJump(*context, integrator), 1e-6);

    context->loadCheckpoint(checkpoint);
    ASSERT_EQUAL_TOL(0.08, displacementOfNextJump(*context, integrator), 1e-6);

    EquiJumpIntegrator other(integrator.getSerializedModule(), 100.0, 300.0, 1);
    auto otherContext = makeContext(system, other);
    otherContext->setState(state);
    ASSERT_EQUAL_TOL(0.08, displacementOfNextJump(*otherContext, other), 1e-6);

    std::unique_ptr<Integrator> copy(XmlSerializer::deserialize<Integrator>(xml));
    EquiJumpIntegrator& restored = dynamic_cast<EquiJumpIntegrator&>(*copy);
    Context copiedContext(system, restored, Platform::getPlatformByName(platformName), properties);
    copiedContext.setPositions(state.getPositions());
    ASSERT_EQUAL_TOL(0.08, displacementOfNextJump(copiedContext, restored), 1e-6);
}

void testUnusablePositionsAreBlamedOnTheInput() {
    const int n = 6;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(makeModule(n, "return positions"), 100.0, 300.0, 1);
    auto context = makeContext(system, integrator);
    std::vector<Vec3> positions = makePositions(n);
    positions[4] = Vec3(1e30, 0, 0);
    context->setPositions(positions);
    std::string message = messageOf([&] { integrator.step(1); });
    ASSERT(message.find("particle 4") != std::string::npos);
    ASSERT(message.find("input is at fault") != std::string::npos);
    ASSERT_EQUAL(0, context->getState(State::Positions).getStepCount());
}

void testNonFiniteJumpLeavesContextUnchanged() {
    const int n = 12;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(
            makeModule(n, "return positions if seed < 0 else positions * float('nan')"), 100.0, 300.0, 1);
    auto context = makeContext(system, integrator);
    std::vector<Vec3> velocities(n, Vec3(0.1, 0.2, 0.3));
    context->setVelocities(velocities);
    context->setTime(5.0);
    std::string message = messageOf([&]() { integrator.step(1); });
    ASSERT(message.find("non-finite") != std::string::npos);
    State state = context->getState(State::Positions | State::Velocities);
    assertSamePositions(makePositions(n), state.getPositions(), 0);
    assertSamePositions(velocities, state.getVelocities(), 0);
    ASSERT_EQUAL(5.0, state.getTime());
    ASSERT_EQUAL(0, state.getStepCount());
}

void testWrongOutputShapeIsReported() {
    const int n = 12;
    System system = makeSystem(n);
    EquiJumpIntegrator integrator(makeModule(n, "return positions[:, :3]"), 100.0, 300.0, 1);
    auto context = makeContext(system, integrator);
    std::string message = messageOf([&]() { integrator.step(1); });
    ASSERT(message.find("shape") != std::string::npos);
    ASSERT_EQUAL(0, context->getState(State::Positions).getStepCount());
}

void testSystemMismatchIsRefused() {
    const int n = 12;
    System system = makeSystem(n);
    EquiJumpIntegrator wrongCount(makeModule(n, "return positions", n + 3), 100.0, 300.0, 1);
    std::string message = messageOf([&]() { makeContext(system, wrongCount); });
    ASSERT(message.find("12 particles") != std::string::npos && message.find("15 atoms") != std::string::npos);

    System heavier = makeSystem(n);
    heavier.setParticleMass(7, 2.016); // deuterium on the third group
    EquiJumpIntegrator wrongMass(makeModule(n, "return positions"), 100.0, 300.0, 1);
    message = messageOf([&]() { makeContext(heavier, wrongMass); });
    ASSERT(message.find("particle 6 ") != std::string::npos);
    ASSERT(message.find("Rebind") != std::string::npos);

    // Hydrogen mass repartitioning moves mass within a group: accepted.
    System repartitioned = makeSystem(n, 4.0);
    EquiJumpIntegrator accepted(makeModule(n, "return positions"), 100.0, 300.0, 1);
    auto context = makeContext(repartitioned, accepted);
    accepted.step(1);
}

void testUnreadableModuleIsReported() {
    const int n = 12;
    System system = makeSystem(n);
    EquiJumpIntegrator garbage("not a TorchScript archive", 100.0, 300.0, 1);
    std::string message = messageOf([&]() { makeContext(system, garbage); });
    ASSERT(message.find("cannot read the jump module") != std::string::npos);
}

void testVelocityConstraintsAreApplied() {
    const int n = 12;
    System system = makeSystem(n);
    system.addConstraint(0, 1, 0.15);
    EquiJumpIntegrator integrator(makeModule(n, "return positions"), 100.0, 300.0, 9);
    auto context = makeContext(system, integrator);
    integrator.step(1);
    State state = context->getState(State::Positions | State::Velocities);
    Vec3 bond = state.getPositions()[1] - state.getPositions()[0];
    Vec3 relative = state.getVelocities()[1] - state.getVelocities()[0];
    ASSERT_EQUAL_TOL(0.0, bond.dot(relative), 1e-4);
}

} // namespace

int main(int argc, char* argv[]) {
    try {
        if (argc != 2)
            throw std::runtime_error("usage: TestEquiJumpIntegrator <Reference|CPU>");
        platformName = argv[1];
        // libOpenMM's compiled-in plugin directory is the wheel builder's; the CPU platform lives in pip's copy.
        Platform::loadPluginsFromDirectory(OPENMM_PLUGIN_DIR);
        if (platformName == "CPU")
            properties["Threads"] = "1";
        testJumpAdvancesTimeStepCountAndPositions();
        testVelocitiesFollowTemperature();
        testSeedsAndStepCountDetermineJumps();
        testCheckpointContinuesExactly();
        testXmlRoundTripStillJumps();
        testNonFiniteJumpLeavesContextUnchanged();
        testUnusablePositionsAreBlamedOnTheInput();
        testWrongOutputShapeIsReported();
        testSystemMismatchIsRefused();
        testUnreadableModuleIsReported();
        testVelocityConstraintsAreApplied();
        testStatefulModuleCarriesItsStateAndResetsOnNewPositions();
        testStatefulModuleContinuesAcrossCheckpointsStatesAndXml();
    }
    catch (const std::exception& e) {
        std::cout << "exception: " << e.what() << std::endl;
        return 1;
    }
    std::cout << "Done" << std::endl;
    return 0;
}
