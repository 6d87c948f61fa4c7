%module equijump

%import(module="openmm") "swig/OpenMMSwigHeaders.i"
%include "swig/typemaps.i"
%include <std_string.i>

%{
#include "EquiJumpIntegrator.h"
#include "OpenMM.h"
#include "OpenMMAmoeba.h"
#include "OpenMMDrude.h"
#include "openmm/RPMDIntegrator.h"
#include "openmm/RPMDMonteCarloBarostat.h"
%}

%pythoncode %{
import openmm
import openmm.unit as unit
%}

%init %{
    EquiJumpPlugin::registerEquiJumpKernelFactories();
%}

// C++ exceptions become openmm.OpenMMException, like those of openmm's own classes.
%exception {
    try {
        $action
    }
    catch (std::exception& e) {
        PyObject* openmmModule = PyImport_ImportModule("openmm");
        PyObject* exceptionType = openmmModule ? PyObject_GetAttrString(openmmModule, "OpenMMException") : NULL;
        PyErr_SetString(exceptionType ? exceptionType : PyExc_Exception, e.what());
        Py_XDECREF(exceptionType);
        Py_XDECREF(openmmModule);
        SWIG_fail;
    }
}

// The jump module travels as Python bytes (torch.jit.save output), never as text.
%typemap(in) const std::string& serializedModule (std::string bytes) {
    char* buffer = NULL;
    Py_ssize_t length = 0;
    if (!PyBytes_Check($input) || PyBytes_AsStringAndSize($input, &buffer, &length) < 0) {
        PyErr_SetString(PyExc_TypeError, "the serialized jump module must be bytes (the output of torch.jit.save)");
        SWIG_fail;
    }
    bytes.assign(buffer, length);
    $1 = &bytes;
}
%typemap(freearg) const std::string& serializedModule ""
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const std::string& serializedModule {
    $1 = PyBytes_Check($input);
}

// cast() returns a view of its argument: keep the argument alive as long as the view.
%pythonappend EquiJumpPlugin::EquiJumpIntegrator::cast %{
    val._castFrom = integrator
%}

%pythonappend EquiJumpPlugin::EquiJumpIntegrator::getTemperature() const %{
    val = unit.Quantity(val, unit.kelvin)
%}

namespace EquiJumpPlugin {

class EquiJumpIntegrator : public OpenMM::Integrator {
public:
    EquiJumpIntegrator(const std::string& serializedModule, double jumpInterval, double temperature,
                       int randomSeed = 0, const std::string& device = "auto");
    double getTemperature() const;
    void setTemperature(double temperature);
    int getRandomNumberSeed() const;
    void setRandomNumberSeed(int seed);
    int getActiveRandomNumberSeed() const;
    const std::string& getDevice() const;
    int getNumThreads() const;
    void setNumThreads(int threads);
    virtual void step(int steps);

    %extend {
        /** The bytes of the TorchScript jump module. */
        PyObject* getSerializedModule() const {
            const std::string& bytes = self->getSerializedModule();
            return PyBytes_FromStringAndSize(bytes.data(), bytes.size());
        }
        /** The EquiJumpIntegrator behind a plain openmm.Integrator, e.g. one XmlSerializer.deserialize made. */
        static EquiJumpPlugin::EquiJumpIntegrator& cast(OpenMM::Integrator& integrator) {
            EquiJumpPlugin::EquiJumpIntegrator* result = dynamic_cast<EquiJumpPlugin::EquiJumpIntegrator*>(&integrator);
            if (result == NULL)
                throw OpenMM::OpenMMException("cast: the integrator is not an EquiJumpIntegrator");
            return *result;
        }
        /** Whether an openmm.Integrator is an EquiJumpIntegrator. */
        static bool isinstance(OpenMM::Integrator& integrator) {
            return dynamic_cast<EquiJumpPlugin::EquiJumpIntegrator*>(&integrator) != NULL;
        }
    }
};

void registerEquiJumpKernelFactories();

}
