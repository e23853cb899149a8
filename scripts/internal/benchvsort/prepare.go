package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// manifest is what prepare writes for the other steps (and the ORT side,
// scripts/bench_vs_ort.py): per model, the float model and the .npz files
// of calibration and evaluation inputs.
type manifest struct {
	TestData string          `json:"testdata"`
	Models   []manifestModel `json:"models"`
}

type manifestModel struct {
	Name          string   `json:"name"`
	Float         string   `json:"float"`
	Input         string   `json:"input"`
	Calib         string   `json:"calib"`
	Eval          string   `json:"eval"`
	Labels        string   `json:"labels,omitempty"` // .npy of int64 labels of the eval samples
	CalibSamples  int      `json:"calib_samples"`
	EvalSamples   int      `json:"eval_samples"`
	CalibFrom     []string `json:"calib_from"`
	EvalFrom      []string `json:"eval_from"`
	Preprocessing string   `json:"preprocessing"`
	// Budget is the .npz the onnxq-budget variant measures its budget
	// on (benchModel.Budget), made from BudgetFrom.
	Budget     string   `json:"budget,omitempty"`
	BudgetFrom []string `json:"budget_from,omitempty"`
}

const manifestName = "manifest.json"

// prepare writes DIR/data/NAME.{calib,eval}.npz for every model (and the
// mnist-7 labels) and DIR/manifest.json.
func prepare(dir, td string) error {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	photos, err := filepath.Glob(filepath.Join(td, "images", "*.jpg"))
	if err != nil {
		return err
	}
	sort.Strings(photos)
	if len(photos) <= calibPhotos {
		return fmt.Errorf("%d photos in %s, want more than %d: run scripts/fetch-testdata.sh", len(photos), filepath.Join(td, "images"), calibPhotos)
	}
	man := manifest{TestData: td}
	for _, bm := range benchModels {
		mm := manifestModel{
			Name: bm.Name, Float: filepath.Join(td, bm.file()), Input: bm.Input, Preprocessing: bm.Preprocessing,
			Calib: filepath.Join(dataDir, bm.Name+".calib.npz"), Eval: filepath.Join(dataDir, bm.Name+".eval.npz"),
		}
		if _, err := os.Stat(mm.Float); err != nil {
			return fmt.Errorf("model %s: %w (run scripts/fetch-testdata.sh)", bm.Name, err)
		}
		if bm.Image != nil {
			mm.CalibFrom, mm.EvalFrom = baseNames(photos[:calibPhotos]), baseNames(photos[calibPhotos:])
			if mm.CalibSamples, err = writeImages(mm.Calib, photos[:calibPhotos], *bm.Image); err != nil {
				return fmt.Errorf("%s: %w", bm.Name, err)
			}
			if mm.EvalSamples, err = writeImages(mm.Eval, photos[calibPhotos:], *bm.Image); err != nil {
				return fmt.Errorf("%s: %w", bm.Name, err)
			}
			if b := bm.Budget; b != nil {
				var paths []string
				for _, f := range b.Photos {
					paths = append(paths, filepath.Join(td, "photos27", f))
				}
				mm.Budget, mm.BudgetFrom = filepath.Join(dataDir, bm.Name+".budget.npz"), b.Photos
				if _, err := writeImages(mm.Budget, paths, *bm.Image); err != nil {
					return fmt.Errorf("%s: budget photos: %w (run scripts/fetch-testdata.sh)", bm.Name, err)
				}
			}
		} else {
			if err := prepareMNIST(&mm, td, dataDir); err != nil {
				return fmt.Errorf("%s: %w", bm.Name, err)
			}
		}
		fmt.Fprintf(os.Stderr, "prepared %s: %d calibration samples (%s), %d evaluation samples\n",
			bm.Name, mm.CalibSamples, strings.Join(mm.CalibFrom, " "), mm.EvalSamples)
		man.Models = append(man.Models, mm)
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	return onnxio.WriteFileAtomic(filepath.Join(dir, manifestName), append(b, '\n'))
}

// writeImages preprocesses photos and writes them stacked into one .npz.
func writeImages(path string, photos []string, pre dataset.ImagePreprocess) (int, error) {
	src, err := dataset.NewImages(photos, pre)
	if err != nil {
		return 0, err
	}
	return writeSource(path, src, src.Len())
}

// writeSource writes the first n samples of src stacked into one .npz.
func writeSource(path string, src dataset.Source, n int) (int, error) {
	var st dataset.Stacker
	for i := range n {
		s, err := src.Sample(i)
		if err != nil {
			return 0, err
		}
		if err := st.Add(s); err != nil {
			return 0, err
		}
	}
	arrays, err := st.Arrays()
	if err != nil {
		return 0, err
	}
	return n, dataset.WriteNpz(path, arrays, dataset.NpzOptions{})
}

// prepareMNIST writes mnistCalib training images as the calibration set
// and the 10,000 test images (and their labels) as the evaluation set.
func prepareMNIST(mm *manifestModel, td, dataDir string) error {
	pre := dataset.MNISTPresets["mnist-7"]
	train, err := dataset.OpenMNIST(filepath.Join(td, "mnist", "train-images-idx3-ubyte.gz"), pre)
	if err != nil {
		return err
	}
	test, err := dataset.OpenMNIST(filepath.Join(td, "mnist", "t10k-images-idx3-ubyte.gz"), pre)
	if err != nil {
		return err
	}
	labels, err := dataset.ReadIDXLabels(filepath.Join(td, "mnist", "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		return err
	}
	if len(labels) != test.Len() {
		return fmt.Errorf("%d test labels for %d test images", len(labels), test.Len())
	}
	if mm.CalibSamples, err = writeSource(mm.Calib, train, mnistCalib); err != nil {
		return err
	}
	if mm.EvalSamples, err = writeSource(mm.Eval, test, test.Len()); err != nil {
		return err
	}
	mm.Labels = filepath.Join(dataDir, mm.Name+".labels.npy")
	mm.CalibFrom = []string{fmt.Sprintf("train-images-idx3-ubyte.gz[0:%d]", mnistCalib)}
	mm.EvalFrom = []string{"t10k-images-idx3-ubyte.gz"}
	return dataset.WriteNpyFile(mm.Labels, graph.MustTensor(graph.Int64, []int64{int64(len(labels))}, labels))
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// loadManifest reads DIR/manifest.json.
func loadManifest(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, fmt.Errorf("%w (run 'benchvsort prepare' first)", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, manifestName), err)
	}
	return &m, nil
}
