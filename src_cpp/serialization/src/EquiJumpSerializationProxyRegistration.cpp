#include "EquiJumpIntegrator.h"
#include "EquiJumpIntegratorProxy.h"
#include "openmm/serialization/SerializationProxy.h"
#include "openmm/internal/windowsExport.h"

using namespace EquiJumpPlugin;

// Runs when the library is loaded, so XmlSerializer knows the integrator as soon as the plugin is present.
extern "C" OPENMM_EXPORT void __attribute__((constructor)) registerEquiJumpSerializationProxies() {
    OpenMM::SerializationProxy::registerProxy(typeid(EquiJumpIntegrator), new EquiJumpIntegratorProxy());
}
