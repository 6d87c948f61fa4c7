/* An AOTInductor package (.pt2: a network compiled ahead of time by torch.export + AOTInductor) as a TorchScript
 * custom class, torch.classes.equijump.CompiledPackage, so that a TorchScript jump module can call compiled code
 * from its own loop and the plugin's kernel runs it like any other jump module.
 *
 * The package's bytes are the object's pickled state: a saved jump module holds its packages and loads wherever
 * this library is loaded (the plugin, or Python after importing openmm_equijump). A package is native code for
 * one kind of CPU, so a jump module with packages runs only on machines like the one that compiled them.
 */
#include <ATen/ATen.h>
#include <torch/custom_class.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

class CompiledPackage : public torch::CustomClassHolder {
public:
    // path: a .pt2 file written by torch._inductor.aoti_compile_and_package
    explicit CompiledPackage(const std::string& path) {
        std::ifstream file(path, std::ios::binary);
        if (!file)
            throw std::runtime_error("CompiledPackage: cannot read the AOTInductor package " + path);
        std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        packageBytes = at::from_blob(bytes.data(), {(int64_t) bytes.size()}, at::kByte).clone();
        loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
    }

    // bytes: the package file's contents (uint8, 1-D), as getState returned them
    explicit CompiledPackage(const at::Tensor& bytes) : packageBytes(bytes.contiguous().to(at::kCPU)) {
        // The loader reads a file: the bytes go to a private temporary file that is removed once loaded.
        // mkstemps' template: it replaces the six characters before the 4-character suffix with a unique name
        const std::string uniqueRun(6, 'X');
        std::string pattern =
            (std::filesystem::temp_directory_path() / ("equijump-package-" + uniqueRun + ".pt2")).string();
        std::vector<char> name(pattern.begin(), pattern.end());
        name.push_back('\0');
        int descriptor = mkstemps(name.data(), 4);
        if (descriptor < 0)
            throw std::runtime_error("CompiledPackage: cannot create a temporary file in " +
                                     std::filesystem::temp_directory_path().string());
        const std::string path(name.data());
        FILE* file = fdopen(descriptor, "wb");
        size_t written = file ? fwrite(packageBytes.data_ptr<uint8_t>(), 1, packageBytes.numel(), file) : 0;
        bool closed = file && fclose(file) == 0;
        if (!file)
            close(descriptor);
        try {
            if (written != (size_t) packageBytes.numel() || !closed)
                throw std::runtime_error("CompiledPackage: cannot write the package to " + path);
            loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
        }
        catch (...) {
            std::filesystem::remove(path);
            throw;
        }
        std::filesystem::remove(path);
    }

    std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs) {
        // the compiled code does not check its inputs: a tensor elsewhere than the CPU would be read as garbage
        for (const at::Tensor& input : inputs)
            TORCH_CHECK(input.device().is_cpu(), "CompiledPackage: a compiled jump module runs on the CPU, got an "
                        "input on ", input.device(), "; use device='cpu'");
        return loader->run(inputs);
    }

    at::Tensor getState() const {
        return packageBytes;
    }

private:
    at::Tensor packageBytes;
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
};

TORCH_LIBRARY(equijump, m) {
    m.class_<CompiledPackage>("CompiledPackage")
        .def(torch::init<std::string>())
        .def("run", &CompiledPackage::run)
        .def_pickle(
            [](const c10::intrusive_ptr<CompiledPackage>& self) -> at::Tensor { return self->getState(); },
            [](at::Tensor bytes) -> c10::intrusive_ptr<CompiledPackage> {
                return c10::make_intrusive<CompiledPackage>(bytes);
            });
}

} // namespace
