package ort

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// apiVersion is the ONNX Runtime C API version this package asks for. Every
// function bound below exists since version 1; 18 (ONNX Runtime 1.18) is
// the first release that loads what onnxq writes (IR version 10, opset 21),
// so an older library is refused when it is loaded rather than on the
// first quantized model.
const apiVersion = 18

// ORT's enums, as onnxruntime_c_api.h numbers them.
const (
	ortLoggingLevelError = 3 // OrtLoggingLevel: only errors reach stderr
	ortArenaAllocator    = 1 // OrtAllocatorType
	ortMemTypeDefault    = 0 // OrtMemType
	onnxTypeTensor       = 1 // ONNXType
)

// api is the part of ONNX Runtime's C API (struct OrtApi) this package
// calls, bound with purego. Handles (OrtSession*, OrtValue*, ...) are
// uintptrs Go never dereferences; functions that fail return an OrtStatus*
// (0 on success), which check turns into an error.
type api struct {
	getErrorMessage func(status uintptr) string
	releaseStatus   func(status uintptr)

	createEnv             func(level int32, logID string, env *uintptr) uintptr
	createCPUMemoryInfo   func(allocator, memType int32, info *uintptr) uintptr
	getDefaultAllocator   func(allocator *uintptr) uintptr
	allocatorFree         func(allocator uintptr, p unsafe.Pointer) uintptr
	createSessionOptions  func(opts *uintptr) uintptr
	setOptimizedModelPath func(opts uintptr, path string) uintptr
	setOptimizationLevel  func(opts uintptr, level int32) uintptr
	setIntraOpThreads     func(opts uintptr, n int32) uintptr
	setInterOpThreads     func(opts uintptr, n int32) uintptr
	releaseSessionOptions func(opts uintptr)

	createSession          func(env uintptr, path string, opts uintptr, session *uintptr) uintptr
	createSessionFromArray func(env uintptr, model []byte, n uintptr, opts uintptr, session *uintptr) uintptr
	releaseSession         func(session uintptr)
	sessionInputCount      func(session uintptr, n *uintptr) uintptr
	sessionOutputCount     func(session uintptr, n *uintptr) uintptr
	sessionInputName       func(session, i, allocator uintptr, name *unsafe.Pointer) uintptr
	sessionOutputName      func(session, i, allocator uintptr, name *unsafe.Pointer) uintptr
	sessionInputTypeInfo   func(session, i uintptr, info *uintptr) uintptr
	sessionOutputTypeInfo  func(session, i uintptr, info *uintptr) uintptr
	run                    func(session, runOptions uintptr, inNames []unsafe.Pointer, in []uintptr, nIn uintptr, outNames []unsafe.Pointer, nOut uintptr, out []uintptr) uintptr

	castToTensorInfo   func(typeInfo uintptr, info *uintptr) uintptr
	releaseTypeInfo    func(typeInfo uintptr)
	getElementType     func(info uintptr, dt *int32) uintptr
	getDimensionsCount func(info uintptr, n *uintptr) uintptr
	getDimensions      func(info uintptr, dims []int64, n uintptr) uintptr
	releaseTensorInfo  func(info uintptr)

	createTensorWithData func(memInfo uintptr, data unsafe.Pointer, size uintptr, shape []int64, rank uintptr, dt int32, value *uintptr) uintptr
	getValueType         func(value uintptr, t *int32) uintptr
	getTypeAndShape      func(value uintptr, info *uintptr) uintptr
	getMutableData       func(value uintptr, data *unsafe.Pointer) uintptr
	releaseValue         func(value uintptr)
}

// apiFunction is one entry of struct OrtApi: its position (ONNX Runtime
// only ever appends to the struct, so positions never change), its name in
// onnxruntime_c_api.h and the Go function it is bound to.
type apiFunction struct {
	index int
	name  string
	fptr  any
}

// functions lists the OrtApi entries api binds, positions counted in
// onnxruntime_c_api.h (ONNX Runtime 1.24's header; checked against 1.30 by
// the tests, which call each of them).
func (a *api) functions() []apiFunction {
	return []apiFunction{
		{2, "GetErrorMessage", &a.getErrorMessage},
		{3, "CreateEnv", &a.createEnv},
		{7, "CreateSession", &a.createSession},
		{8, "CreateSessionFromArray", &a.createSessionFromArray},
		{9, "Run", &a.run},
		{10, "CreateSessionOptions", &a.createSessionOptions},
		{11, "SetOptimizedModelFilePath", &a.setOptimizedModelPath},
		{23, "SetSessionGraphOptimizationLevel", &a.setOptimizationLevel},
		{24, "SetIntraOpNumThreads", &a.setIntraOpThreads},
		{25, "SetInterOpNumThreads", &a.setInterOpThreads},
		{30, "SessionGetInputCount", &a.sessionInputCount},
		{31, "SessionGetOutputCount", &a.sessionOutputCount},
		{33, "SessionGetInputTypeInfo", &a.sessionInputTypeInfo},
		{34, "SessionGetOutputTypeInfo", &a.sessionOutputTypeInfo},
		{36, "SessionGetInputName", &a.sessionInputName},
		{37, "SessionGetOutputName", &a.sessionOutputName},
		{49, "CreateTensorWithDataAsOrtValue", &a.createTensorWithData},
		{51, "GetTensorMutableData", &a.getMutableData},
		{55, "CastTypeInfoToTensorInfo", &a.castToTensorInfo},
		{60, "GetTensorElementType", &a.getElementType},
		{61, "GetDimensionsCount", &a.getDimensionsCount},
		{62, "GetDimensions", &a.getDimensions},
		{65, "GetTensorTypeAndShape", &a.getTypeAndShape},
		{67, "GetValueType", &a.getValueType},
		{69, "CreateCpuMemoryInfo", &a.createCPUMemoryInfo},
		{76, "AllocatorFree", &a.allocatorFree},
		{78, "GetAllocatorWithDefaultOptions", &a.getDefaultAllocator},
		{93, "ReleaseStatus", &a.releaseStatus},
		{95, "ReleaseSession", &a.releaseSession},
		{96, "ReleaseValue", &a.releaseValue},
		{98, "ReleaseTypeInfo", &a.releaseTypeInfo},
		{99, "ReleaseTensorTypeAndShapeInfo", &a.releaseTensorInfo},
		{100, "ReleaseSessionOptions", &a.releaseSessionOptions},
	}
}

// check turns an OrtStatus* into an error carrying ONNX Runtime's message
// (nil for success) and releases the status.
func (a *api) check(status uintptr) error {
	if status == 0 {
		return nil
	}
	msg := a.getErrorMessage(status)
	a.releaseStatus(status)
	return errors.New(msg)
}

// library is a loaded ONNX Runtime: its C API and the process's one
// environment, CPU memory description and default allocator (none of them
// is ever released).
type library struct {
	path    string
	version string
	api     *api
	env     uintptr
	cpu     uintptr // OrtMemoryInfo of CPU tensors that wrap Go memory
	alloc   uintptr // the default allocator, which allocates names
}

// load opens the shared library at path, asks it for C API version
// `version` and creates the environment; messages call the library name
// (the path and where it came from). A failure leaves nothing loaded that
// matters: Init can be retried with another path.
func load(path, name string, version uint32) (*library, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		// dlerror's text starts with the path again.
		reason := strings.TrimPrefix(err.Error(), path+": ")
		return nil, fmt.Errorf("loading ONNX Runtime from %s: %s", name, reason)
	}
	lib, err := bind(h, path, name, version)
	if err != nil {
		purego.Dlclose(h)
		return nil, err
	}
	a := lib.api
	for _, step := range []struct {
		what string
		call func() uintptr
	}{
		{"creating its environment", func() uintptr { return a.createEnv(ortLoggingLevelError, "onnxq", &lib.env) }},
		{"describing CPU memory", func() uintptr { return a.createCPUMemoryInfo(ortArenaAllocator, ortMemTypeDefault, &lib.cpu) }},
		{"getting its default allocator", func() uintptr { return a.getDefaultAllocator(&lib.alloc) }},
	} {
		if err := a.check(step.call()); err != nil {
			return nil, fmt.Errorf("ONNX Runtime %s at %s: %s: %v", lib.version, name, step.what, err)
		}
	}
	return lib, nil
}

// bind finds OrtGetApiBase in the opened library h and binds the C API.
func bind(h uintptr, path, name string, version uint32) (*library, error) {
	sym, err := purego.Dlsym(h, "OrtGetApiBase")
	if err != nil {
		return nil, fmt.Errorf("%s is not an ONNX Runtime library: it has no OrtGetApiBase function", name)
	}
	var getAPIBase func() unsafe.Pointer
	purego.RegisterFunc(&getAPIBase, sym)
	base := getAPIBase()
	if base == nil {
		return nil, fmt.Errorf("%s is not a working ONNX Runtime library: OrtGetApiBase returned nothing", name)
	}
	// struct OrtApiBase { GetApi; GetVersionString; }
	var getAPI func(version uint32) unsafe.Pointer
	var versionString func() string
	purego.RegisterFunc(&getAPI, *(*uintptr)(base))
	purego.RegisterFunc(&versionString, *(*uintptr)(unsafe.Add(base, unsafe.Sizeof(uintptr(0)))))
	lib := &library{path: path, version: versionString(), api: &api{}}
	table := getAPI(version)
	if table == nil {
		return nil, fmt.Errorf("ONNX Runtime %s at %s is too old: it does not provide C API version %d (ONNX Runtime 1.%d or newer is needed)", lib.version, name, version, version)
	}
	for _, f := range lib.api.functions() {
		fn := *(*uintptr)(unsafe.Add(table, f.index*int(unsafe.Sizeof(uintptr(0)))))
		if fn == 0 {
			return nil, fmt.Errorf("ONNX Runtime %s at %s has no %s function", lib.version, name, f.name)
		}
		purego.RegisterFunc(f.fptr, fn)
	}
	return lib, nil
}

// cString copies the NUL-terminated C string at p.
func cString(p unsafe.Pointer) string {
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}
