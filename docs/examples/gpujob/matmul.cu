// matmul.cu: matrix add and matrix multiply on a CUDA GPU, checked against a CPU reference.
//
// The example program of a minik8s GpuJob (see README.md beside this file): the job compiles it
// with `nvcc -O2 -o matmul matmul.cu` and runs `./matmul 256` on a Slurm node.
//
//   ./matmul [SIZE] [--cpu] [--corrupt]
//
//   SIZE       N (square: N x N matrices), MxN (A is MxN, B is NxN), or MxKxN (A is MxK, B is KxN);
//              the sum is computed on MxN matrices, the product is the MxN matrix A*B. Default 256.
//   --cpu      do not look for a GPU: compute on the CPU path.
//   --corrupt  change one element of each result before the check (so the check must fail);
//              MATMUL_CORRUPT=1 in the environment does the same. It keeps the test honest.
//
// When cudaGetDeviceCount reports no device (0 devices, or an error such as "no CUDA-capable
// device" or a missing driver), it prints one line saying so and computes on the CPU instead.
// Either way every element is compared with a reference computed on the CPU in double precision.
// The last line says what was checked, e.g.
//   matadd OK, matmul OK (256x256, gpu, checksum 41402.0000)
// Exit status: 0 when both results are right, 1 when a check fails, 2 on bad arguments or a CUDA
// error after a device was found.

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int TILE = 16;  // a TILE x TILE thread block; the product uses TILE x TILE shared tiles

#define CUDA_CHECK(call)                                                                     \
    do {                                                                                     \
        cudaError_t err_ = (call);                                                           \
        if (err_ != cudaSuccess) {                                                           \
            std::fprintf(stderr, "CUDA error: %s failed: %s (%s)\n", #call,                  \
                         cudaGetErrorString(err_), cudaGetErrorName(err_));                  \
            std::exit(2);                                                                    \
        }                                                                                    \
    } while (0)

// C = A + B, all rows x cols, row-major. One thread per element on a 2D grid.
__global__ void matadd_kernel(const float* a, const float* b, float* c, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) {
        c[row * cols + col] = a[row * cols + col] + b[row * cols + col];
    }
}

// C (m x n) = A (m x k) * B (k x n), row-major. One thread per element of C on a 2D grid; each
// block walks the k dimension in TILE-wide steps through tiles of A and B in shared memory.
__global__ void matmul_kernel(const float* a, const float* b, float* c, int m, int k, int n) {
    __shared__ float as[TILE][TILE];
    __shared__ float bs[TILE][TILE];
    int col = blockIdx.x * TILE + threadIdx.x;
    int row = blockIdx.y * TILE + threadIdx.y;
    float acc = 0.0f;
    for (int t = 0; t < k; t += TILE) {
        int ak = t + threadIdx.x;  // the column of A this thread loads
        int bk = t + threadIdx.y;  // the row of B this thread loads
        as[threadIdx.y][threadIdx.x] = (row < m && ak < k) ? a[row * k + ak] : 0.0f;
        bs[threadIdx.y][threadIdx.x] = (bk < k && col < n) ? b[bk * n + col] : 0.0f;
        __syncthreads();
        for (int i = 0; i < TILE; ++i) {
            acc += as[threadIdx.y][i] * bs[i][threadIdx.x];
        }
        __syncthreads();
    }
    if (row < m && col < n) {
        c[row * n + col] = acc;
    }
}

// Deterministic inputs: small multiples of 1/8 in [-1, 1), so every product and every partial sum
// of a moderate size is exact in float and the GPU, the CPU path and the reference agree exactly.
void fill(std::vector<float>& v, int rows, int cols, int seed) {
    for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < cols; ++j) {
            int x = (i * 7 + j * 13 + seed * 31) % 17;
            v[static_cast<size_t>(i) * cols + j] = static_cast<float>(x - 8) / 8.0f;
        }
    }
}

// The CPU path (no GPU): the same float arithmetic as the kernels, in an i-k-j loop.
void matadd_cpu(const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& c) {
    for (size_t i = 0; i < c.size(); ++i) c[i] = a[i] + b[i];
}

void matmul_cpu(const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& c,
                int m, int k, int n) {
    std::fill(c.begin(), c.end(), 0.0f);
    for (int i = 0; i < m; ++i) {
        for (int p = 0; p < k; ++p) {
            float aip = a[static_cast<size_t>(i) * k + p];
            const float* brow = &b[static_cast<size_t>(p) * n];
            float* crow = &c[static_cast<size_t>(i) * n];
            for (int j = 0; j < n; ++j) crow[j] += aip * brow[j];
        }
    }
}

// Compare with a double-precision reference. A float sum of k products may differ from the exact
// one by about k * 2^-24 times the sum of their magnitudes: the tolerance allows a few times that.
// Returns the number of wrong elements and prints the first one.
long check_add(const std::vector<float>& a, const std::vector<float>& b,
               const std::vector<float>& c, int cols) {
    long bad = 0;
    for (size_t i = 0; i < c.size(); ++i) {
        double ref = static_cast<double>(a[i]) + static_cast<double>(b[i]);
        double tol = 1e-6 * (std::fabs(ref) + 1.0);
        if (!(std::fabs(c[i] - ref) <= tol)) {
            if (bad == 0) {
                std::printf("matadd: C[%zu][%zu] = %.6f, expected %.6f\n", i / cols, i % cols,
                            c[i], ref);
            }
            ++bad;
        }
    }
    return bad;
}

long check_mul(const std::vector<float>& a, const std::vector<float>& b,
               const std::vector<float>& c, int m, int k, int n) {
    long bad = 0;
    const double eps = 1.0 / (1 << 23);
    for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
            double ref = 0.0, mag = 0.0;
            for (int p = 0; p < k; ++p) {
                double prod = static_cast<double>(a[static_cast<size_t>(i) * k + p]) *
                              b[static_cast<size_t>(p) * n + j];
                ref += prod;
                mag += std::fabs(prod);
            }
            double tol = 4.0 * k * eps * mag + 1e-6;
            double got = c[static_cast<size_t>(i) * n + j];
            if (!(std::fabs(got - ref) <= tol)) {
                if (bad == 0) {
                    std::printf("matmul: C[%d][%d] = %.6f, expected %.6f (tolerance %.3g)\n", i, j,
                                got, ref, tol);
                }
                ++bad;
            }
        }
    }
    return bad;
}

bool parse_size(const char* s, int* m, int* k, int* n) {
    int v[3];
    int count = 0;
    const char* p = s;
    for (;;) {
        if (*p < '0' || *p > '9') return false;
        char* end = nullptr;
        long x = std::strtol(p, &end, 10);
        if (x <= 0 || x > 16384) return false;
        v[count++] = static_cast<int>(x);
        if (*end == '\0') break;
        if ((*end != 'x' && *end != 'X') || count == 3) return false;
        p = end + 1;
    }
    *m = v[0];
    *k = count == 3 ? v[1] : v[count - 1];
    *n = v[count - 1];
    return true;
}

// Runs both kernels on device 0; returns the milliseconds the product took.
float run_gpu(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& x,
              const std::vector<float>& y, std::vector<float>& sum, std::vector<float>& prod,
              int m, int k, int n) {
    float *da, *db, *dx, *dy, *dsum, *dprod;
    size_t a_bytes = a.size() * sizeof(float), b_bytes = b.size() * sizeof(float);
    size_t mn_bytes = sum.size() * sizeof(float);
    CUDA_CHECK(cudaMalloc(&da, a_bytes));
    CUDA_CHECK(cudaMalloc(&db, b_bytes));
    CUDA_CHECK(cudaMalloc(&dx, mn_bytes));
    CUDA_CHECK(cudaMalloc(&dy, mn_bytes));
    CUDA_CHECK(cudaMalloc(&dsum, mn_bytes));
    CUDA_CHECK(cudaMalloc(&dprod, mn_bytes));
    CUDA_CHECK(cudaMemcpy(da, a.data(), a_bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(db, b.data(), b_bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dx, x.data(), mn_bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dy, y.data(), mn_bytes, cudaMemcpyHostToDevice));

    dim3 block(TILE, TILE);
    dim3 grid((n + TILE - 1) / TILE, (m + TILE - 1) / TILE);  // x: columns, y: rows of the result
    matadd_kernel<<<grid, block>>>(dx, dy, dsum, m, n);
    CUDA_CHECK(cudaGetLastError());

    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    CUDA_CHECK(cudaEventRecord(start));
    matmul_kernel<<<grid, block>>>(da, db, dprod, m, k, n);
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));

    CUDA_CHECK(cudaMemcpy(sum.data(), dsum, mn_bytes, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(prod.data(), dprod, mn_bytes, cudaMemcpyDeviceToHost));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaFree(da); cudaFree(db); cudaFree(dx); cudaFree(dy); cudaFree(dsum); cudaFree(dprod);
    return ms;
}

}  // namespace

int main(int argc, char** argv) {
    int m = 256, k = 256, n = 256;
    bool force_cpu = false;
    const char* env = std::getenv("MATMUL_CORRUPT");
    bool corrupt = env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0;
    bool have_size = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--cpu") == 0) {
            force_cpu = true;
        } else if (std::strcmp(argv[i], "--corrupt") == 0) {
            corrupt = true;
        } else if (!have_size && parse_size(argv[i], &m, &k, &n)) {
            have_size = true;
        } else {
            std::fprintf(stderr, "usage: %s [N | MxN | MxKxN] [--cpu] [--corrupt]  (bad: %s)\n",
                         argv[0], argv[i]);
            return 2;
        }
    }

    // Inputs: x, y (m x n) for the sum; a (m x k), b (k x n) for the product.
    std::vector<float> x(static_cast<size_t>(m) * n), y(x.size());
    std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n);
    fill(x, m, n, 1);
    fill(y, m, n, 2);
    fill(a, m, k, 3);
    fill(b, k, n, 4);
    std::vector<float> sum(x.size()), prod(x.size());

    bool gpu = false;
    if (force_cpu) {
        std::printf("--cpu given: running the CPU path\n");
    } else {
        int count = 0;
        cudaError_t err = cudaGetDeviceCount(&count);
        if (err != cudaSuccess) {
            std::printf("no CUDA device (%s: %s): running the CPU path\n", cudaGetErrorName(err),
                        cudaGetErrorString(err));
        } else if (count == 0) {
            std::printf("no CUDA device (0 devices): running the CPU path\n");
        } else {
            gpu = true;
        }
    }

    if (gpu) {
        cudaDeviceProp prop;
        CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        int runtime = 0, driver = 0;
        cudaRuntimeGetVersion(&runtime);
        cudaDriverGetVersion(&driver);
        std::printf("device 0: %s (sm_%d%d, %.1f GiB), CUDA runtime %d.%d, driver %d.%d\n",
                    prop.name, prop.major, prop.minor, prop.totalGlobalMem / 1073741824.0,
                    runtime / 1000, runtime % 1000 / 10, driver / 1000, driver % 1000 / 10);
        float ms = run_gpu(a, b, x, y, sum, prod, m, k, n);
        std::printf("matmul %dx%dx%d on the GPU: %.3f ms (%.2f GFLOP/s)\n", m, k, n, ms,
                    ms > 0 ? 2.0 * m * k * n / (ms * 1e6) : 0.0);
    } else {
        matadd_cpu(x, y, sum);
        matmul_cpu(a, b, prod, m, k, n);
    }

    if (corrupt) {  // one wrong element in each result: the checks below must catch it
        std::printf("--corrupt: changing one element of each result\n");
        sum[sum.size() / 2] += 1.0f;
        prod[prod.size() / 3] += 1.0f;
    }

    long bad_add = check_add(x, y, sum, n);
    long bad_mul = check_mul(a, b, prod, m, k, n);
    double checksum = 0.0;
    for (float v : prod) checksum += v;

    char shape[64];
    if (k == n) {
        std::snprintf(shape, sizeof shape, "%dx%d", m, n);
    } else {
        std::snprintf(shape, sizeof shape, "%dx%d, k=%d", m, n, k);
    }
    char add_word[64] = "OK", mul_word[64] = "OK";
    if (bad_add) std::snprintf(add_word, sizeof add_word, "FAILED (%ld wrong)", bad_add);
    if (bad_mul) std::snprintf(mul_word, sizeof mul_word, "FAILED (%ld wrong)", bad_mul);
    std::printf("matadd %s, matmul %s (%s, %s, checksum %.4f)\n", add_word, mul_word, shape,
                gpu ? "gpu" : "cpu", checksum);
    return (bad_add || bad_mul) ? 1 : 0;
}
