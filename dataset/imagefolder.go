package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the decoders image.Decode uses
	_ "image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// imageExts are the file extensions an image folder is read for.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

// Images is a Source over image files: sample i decodes file i and
// preprocesses it. Nothing is kept between samples.
type Images struct {
	paths []string
	pre   ImagePreprocess
}

// OpenImageFolder returns a source over the .jpg, .jpeg and .png files of
// dir (not its subfolders), in order of file name.
func OpenImageFolder(dir string, pre ImagePreprocess) (*Images, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s holds no .jpg, .jpeg or .png files", dir)
	}
	sort.Strings(paths)
	return NewImages(paths, pre)
}

// NewImages returns a source over the given image files, in that order.
func NewImages(paths []string, pre ImagePreprocess) (*Images, error) {
	if pre.Input == "" {
		return nil, fmt.Errorf("image preprocessing names no model input")
	}
	if err := pre.check(); err != nil {
		return nil, fmt.Errorf("image preprocessing: %w", err)
	}
	return &Images{paths: append([]string{}, paths...), pre: pre}, nil
}

// Len returns the number of images.
func (s *Images) Len() int { return len(s.paths) }

// Path returns the file of sample i.
func (s *Images) Path(i int) string { return s.paths[i] }

// Sample decodes and preprocesses image i.
func (s *Images) Sample(i int) (map[string]*graph.Tensor, error) {
	if i < 0 || i >= len(s.paths) {
		return nil, fmt.Errorf("image %d is out of range: there are %d", i, len(s.paths))
	}
	img, err := DecodeImageFile(s.paths[i])
	if err != nil {
		return nil, err
	}
	t, err := s.pre.Apply(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.paths[i], err)
	}
	return map[string]*graph.Tensor{s.pre.Input: t}, nil
}

// DecodeImageFile decodes a JPEG or PNG file.
func DecodeImageFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decode the image: %w", path, err)
	}
	return img, nil
}
