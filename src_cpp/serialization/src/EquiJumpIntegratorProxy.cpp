#include "EquiJumpIntegratorProxy.h"
#include "EquiJumpIntegrator.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <cstdint>
#include <cstdio>

using namespace EquiJumpPlugin;
using namespace OpenMM;

namespace {
const char* const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const int VERSION = 1;

uint32_t rotateRight(uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}
}

std::string EquiJumpPlugin::sha256Hex(const std::string& bytes) {
    static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    // FIPS 180-4 padding: 0x80, zeros to 56 mod 64, then the message length in bits (big-endian).
    std::string message = bytes;
    uint64_t bits = static_cast<uint64_t>(bytes.size()) * 8;
    message += static_cast<char>(0x80);
    while (message.size() % 64 != 56)
        message += static_cast<char>(0);
    for (int i = 7; i >= 0; i--)
        message += static_cast<char>((bits >> (8 * i)) & 0xFF);
    for (size_t block = 0; block < message.size(); block += 64) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++) {
            const unsigned char* b = reinterpret_cast<const unsigned char*>(&message[block + 4 * i]);
            w[i] = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
        }
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = rotateRight(w[i - 15], 7) ^ rotateRight(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = rotateRight(w[i - 2], 17) ^ rotateRight(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = k + (rotateRight(e, 6) ^ rotateRight(e, 11) ^ rotateRight(e, 25)) + ((e & f) ^ (~e & g)) +
                          K[i] + w[i];
            uint32_t t2 = (rotateRight(a, 2) ^ rotateRight(a, 13) ^ rotateRight(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
    }
    char hex[65];
    for (int i = 0; i < 8; i++)
        std::snprintf(hex + 8 * i, 9, "%08x", h[i]);
    return std::string(hex, 64);
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
    node.setStringProperty("moduleSha256", sha256Hex(integrator.getSerializedModule()));
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
    std::string module = decodeBase64(node.getStringProperty("module"));
    // A changed character of the base64 text still decodes, and TorchScript does not check its archive's CRCs:
    // without the checksum a damaged module would load and jump.
    if (node.hasProperty("moduleSha256") && sha256Hex(module) != node.getStringProperty("moduleSha256"))
        throw OpenMMException("EquiJumpIntegrator XML: the embedded jump module does not match its checksum "
                              "(moduleSha256): the XML is damaged; serialize the integrator again "
                              "(XmlSerializer.serialize) or re-export the jump module");
    EquiJumpIntegrator* integrator = new EquiJumpIntegrator(
            module, node.getDoubleProperty("stepSize"),
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
