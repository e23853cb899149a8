//go:build unix

package onnxio_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/onnxq/onnxq/onnxio"
)

// TestExternalDataSymlinkRace swaps a model's external data file for a
// symbolic link to a file outside the model's folder and back, as fast as
// it can, while the model is loaded and its tensor read again and again.
// Every load either reads the file inside or refuses the link: a check of
// the path followed by an open of the path would, now and then, read the
// outside file (1 run in 400 did, before the data was read through
// os.Root). The outside file holds 0xAB bytes, the inside one zeros, so a
// read from outside is recognised by its bytes.
func TestExternalDataSymlinkRace(t *testing.T) {
	root := t.TempDir()
	dir, outsideDir := filepath.Join(root, "model"), filepath.Join(root, "outside")
	for _, d := range []string{dir, outsideDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := bytes.Repeat([]byte{0xAB}, 16)
	outside := filepath.Join(outsideDir, "w.data")
	if err := os.WriteFile(outside, secret, 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "w.data")
	writeBytes(t, data, 16)
	tensor := extTensor("location", "w.data")
	p := writeModel(t, dir, "model.onnx", modelWith(tensor))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		link, regular := filepath.Join(dir, ".link"), filepath.Join(dir, ".regular")
		for {
			select {
			case <-stop:
				return
			default:
			}
			// rename replaces w.data in one step: it is always either
			// the file inside or the link to the file outside.
			os.Remove(link)
			if err := os.Symlink(outside, link); err == nil {
				os.Rename(link, data)
			}
			if err := os.WriteFile(regular, make([]byte, 16), 0o644); err == nil {
				os.Rename(regular, data)
			}
		}
	}()
	const runs = 2000
	read, refused := 0, 0
	for range runs {
		m, err := onnxio.Load(p)
		if err != nil {
			refused++
			continue
		}
		b, err := m.ReadTensorData(m.Proto.Graph.Initializer[0])
		if err != nil {
			refused++
			continue
		}
		if bytes.Equal(b, secret) {
			close(stop)
			wg.Wait()
			t.Fatalf("a load read the file outside the model's folder through a swapped symbolic link")
		}
		read++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d runs: %d read the data inside, %d refused the link", runs, read, refused)
	if read == 0 {
		t.Fatalf("no run read the data inside the folder: the race was not exercised")
	}
}
