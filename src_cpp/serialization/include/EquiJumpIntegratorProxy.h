#ifndef OPENMM_EQUIJUMP_INTEGRATOR_PROXY_H_
#define OPENMM_EQUIJUMP_INTEGRATOR_PROXY_H_

#include "openmm/serialization/SerializationProxy.h"
#include <string>

namespace EquiJumpPlugin {

/**
 * XML serialization of an EquiJumpIntegrator. The jump module is embedded as base64 text with the SHA-256 of
 * its bytes (moduleSha256, verified on reading when present), so the XML alone recreates an integrator that
 * jumps, and a damaged one is refused.
 */
class EquiJumpIntegratorProxy : public OpenMM::SerializationProxy {
public:
    EquiJumpIntegratorProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const override;
    void* deserialize(const OpenMM::SerializationNode& node) const override;
};

/** RFC 4648 base64 of arbitrary bytes. */
std::string encodeBase64(const std::string& bytes);
/** Inverse of encodeBase64; throws OpenMMException on characters outside the alphabet. */
std::string decodeBase64(const std::string& text);
/** SHA-256 (FIPS 180-4) of arbitrary bytes as 64 lowercase hex digits, as Python's hashlib.sha256().hexdigest(). */
std::string sha256Hex(const std::string& bytes);

} // namespace EquiJumpPlugin

#endif
