#include "EquiJumpIntegratorProxy.h"
#include "EquiJumpIntegrator.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

using namespace EquiJumpPlugin;
using namespace OpenMM;

namespace {
const char* const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const int VERSION = 1;
}

std::string EquiJumpPlugin::encodeBase64(const std::string& bytes) {
    std::string text;
    text.reserve(4 * ((bytes.size() + 2) / 3));
    for (size_t i = 0; i < bytes.size(); i += 3) {
        unsigned int chunk = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size())
            chunk |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        if (i + 2 < bytes.size())
            chunk |= static_cast<unsigned char>(bytes[i + 2]);
        text += ALPHABET[(chunk >> 18) & 63];
        text += ALPHABET[(chunk >> 12) & 63];
        text += i + 1 < bytes.size() ? ALPHABET[(chunk >> 6) & 63] : '=';
        text += i + 2 < bytes.size() ? ALPHABET[chunk & 63] : '=';
    }
    return text;
}

std::string EquiJumpPlugin::decodeBase64(const std::string& text) {
    int value[256];
    for (int& v : value)
        v = -1;
    for (int i = 0; i < 64; i++)
        value[static_cast<unsigned char>(ALPHABET[i])] = i;
    std::string bytes;
    bytes.reserve(3 * text.size() / 4);
    unsigned int chunk = 0;
    int bits = 0;
    for (char c : text) {
        if (c == '=')
            break;
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        int v = value[static_cast<unsigned char>(c)];
        if (v < 0)
            throw OpenMMException(std::string("EquiJumpIntegrator XML: the module text contains '") + c +
                                  "', which is not base64; the file is damaged");
        chunk = (chunk << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes += static_cast<char>((chunk >> bits) & 0xFF);
        }
    }
    return bytes;
}

EquiJumpIntegratorProxy::EquiJumpIntegratorProxy() : SerializationProxy("EquiJumpIntegrator") {
}

void EquiJumpIntegratorProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", VERSION);
    const EquiJumpIntegrator& integrator = *reinterpret_cast<const EquiJumpIntegrator*>(object);
    node.setDoubleProperty("stepSize", integrator.getStepSize());
    node.setDoubleProperty("constraintTolerance", integrator.getConstraintTolerance());
    node.setDoubleProperty("temperature", integrator.getTemperature());
    node.setIntProperty("randomSeed", integrator.getRandomNumberSeed());
    node.setIntProperty("integrationForceGroups", integrator.getIntegrationForceGroups());
    node.setStringProperty("device", integrator.getDevice());
    node.setIntProperty("threads", integrator.getNumThreads());
    node.setStringProperty("module", encodeBase64(integrator.getSerializedModule()));
    std::string state = integrator.getModuleState();
    if (!state.empty())
        node.setStringProperty("moduleState", encodeBase64(state));
}

void* EquiJumpIntegratorProxy::deserialize(const SerializationNode& node) const {
    int version = node.getIntProperty("version");
    if (version != VERSION)
        throw OpenMMException("EquiJumpIntegrator XML has version " + std::to_string(version) +
                              ", this plugin reads version " + std::to_string(VERSION) +
                              "; update openmm-equijump");
    EquiJumpIntegrator* integrator = new EquiJumpIntegrator(
            decodeBase64(node.getStringProperty("module")), node.getDoubleProperty("stepSize"),
            node.getDoubleProperty("temperature"), node.getIntProperty("randomSeed"),
            node.getStringProperty("device"));
    integrator->setConstraintTolerance(node.getDoubleProperty("constraintTolerance"));
    integrator->setIntegrationForceGroups(node.getIntProperty("integrationForceGroups"));
    if (node.hasProperty("threads"))  // absent in files written before the setting existed
        integrator->setNumThreads(node.getIntProperty("threads"));
    if (node.hasProperty("moduleState"))
        integrator->setModuleState(decodeBase64(node.getStringProperty("moduleState")));
    return integrator;
}
