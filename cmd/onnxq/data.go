package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// Data sources shared by the commands that read samples (calibrate,
// insert-qdq, finetune, run, eval):
//
//	FILE.npz / FILE.npy    stacked arrays named after the model inputs
//	DIR of test_data_set_N ONNX test data folders
//	DIR of images          with --preprocess naming an image preset
//	IDX file (.gz or not)  MNIST images, with --preprocess mnist-7
//
// --limit and --offset take a contiguous part of the samples.

var preprocessFlag = &cli.StringFlag{
	Name:  "preprocess",
	Usage: "preprocessing preset for image folders and MNIST idx files: " + strings.Join(presetNames(), ", "),
}

var limitFlag = &cli.IntFlag{Name: "limit", Usage: "use at most this many samples (0: all)"}
var offsetFlag = &cli.IntFlag{Name: "offset", Usage: "skip this many samples first"}

func presetNames() []string {
	var names []string
	for n := range dataset.ImagePresets {
		names = append(names, n)
	}
	for n := range dataset.MNISTPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// dataFlags are the flags of a data source read from flag name.
func dataFlags(name, usage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: name, Usage: usage + " (.npz/.npy, a folder of test_data_set_N, an image folder or an MNIST idx file)", Required: true},
		preprocessFlag, limitFlag, offsetFlag,
	}
}

// openData opens the data source named by flag name for model m. labelKey,
// if not empty, names the label array of an .npz (labels are returned).
func openData(c *cli.Context, name string, m *graph.Model, labelKey string) (dataset.Source, []int64, error) {
	path := c.String(name)
	src, labels, err := openSource(path, c.String(preprocessFlag.Name), inputNames(m), labelKey)
	if err != nil {
		return nil, nil, userErrorf("--%s %s: %v", name, path, err)
	}
	off, lim := c.Int(offsetFlag.Name), c.Int(limitFlag.Name)
	if off < 0 || lim < 0 {
		return nil, nil, userErrorf("--offset and --limit must not be negative")
	}
	if off > 0 || lim > 0 {
		end := src.Len()
		if lim > 0 && off+lim < end {
			end = off + lim
		}
		if off >= end {
			return nil, nil, userErrorf("--%s %s: --offset %d leaves no samples of %d", name, path, off, src.Len())
		}
		if src, err = dataset.Slice(src, off, end); err != nil {
			return nil, nil, userErrorf("--%s %s: %v", name, path, err)
		}
		if labels != nil {
			labels = labels[off:end]
		}
	}
	return src, labels, nil
}

// inputNames lists the names of m's data inputs.
func inputNames(m *graph.Model) []string {
	var names []string
	for _, v := range dataset.ModelInputs(m.Graph) {
		names = append(names, v.Name)
	}
	return names
}

// extraPreset is --preprocess for a data path given besides --calib
// (--eval, --train): it applies to image folders and MNIST files, while
// arrays and test data sets are read as they are, so that one flag serves
// --calib IMAGES and --eval ARRAYS.npz.
func extraPreset(c *cli.Context, path string) string {
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".npz" || ext == ".npy" || isDir(path) && hasTestDataSets(path) {
		return ""
	}
	return c.String(preprocessFlag.Name)
}

func openSource(path, preset string, inputs []string, labelKey string) (dataset.Source, []int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if pre, ok := dataset.MNISTPresets[preset]; ok {
		if st.IsDir() {
			return nil, nil, fmt.Errorf("preset %s reads an MNIST idx image file, not a folder", preset)
		}
		src, err := dataset.OpenMNIST(path, pre)
		return src, nil, err
	}
	if st.IsDir() && !hasTestDataSets(path) {
		pre, ok := dataset.ImagePresets[preset]
		if !ok {
			if preset == "" {
				return nil, nil, fmt.Errorf("a folder of images needs --preprocess (one of %s)", strings.Join(presetNames(), ", "))
			}
			return nil, nil, fmt.Errorf("unknown preset %q (want one of %s)", preset, strings.Join(presetNames(), ", "))
		}
		src, err := dataset.OpenImageFolder(path, pre)
		return src, nil, err
	}
	if preset != "" {
		return nil, nil, fmt.Errorf("--preprocess applies to image folders and MNIST idx files, not to %s", filepath.Base(path))
	}
	return dataset.Open(path, inputs, labelKey)
}

func hasTestDataSets(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "test_data_set") || strings.HasSuffix(e.Name(), ".pb") {
			return true
		}
	}
	return false
}
