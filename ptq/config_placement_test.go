package ptq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/rewrite"
)

// TestConfigFileCarriesPlacementAndWeightMethod checks that a config file
// sets the placement and the weight method (so that a budget's config
// reproduces a run made with --placement / --weight-method), and that a
// wrong value is an error naming the key.
func TestConfigFileCarriesPlacementAndWeightMethod(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fc, err := LoadConfig(write(`{"placement": "speed", "weight_method": "mse"}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	if err := fc.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Placement != rewrite.PlaceSpeed || cfg.WeightMethod != WeightMSE {
		t.Errorf("placement %q, weight method %q; want speed and mse", cfg.Placement, cfg.WeightMethod)
	}
	for body, key := range map[string]string{`{"placement": "fast"}`: "placement", `{"weight_method": "kl"}`: "weight_method"} {
		fc, err := LoadConfig(write(body))
		if err != nil {
			t.Fatal(err)
		}
		cfg := Defaults()
		if err := fc.Apply(&cfg); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming %s", body, err, key)
		}
	}
}
