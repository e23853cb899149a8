package ptq

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/onnxq/onnxq/calibrate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/rewrite"
)

// NodeConfig overrides the settings of one node in a config file.
type NodeConfig struct {
	Exclude    bool `json:"exclude,omitempty"`
	WeightBits int  `json:"weight_bits,omitempty"`
	ActBits    int  `json:"act_bits,omitempty"`
}

// FileConfig is the JSON config file of insert-qdq, calibrate and finetune
// (--config): run-wide settings and per-node overrides. Fields left out
// keep their defaults; command-line flags given explicitly win.
type FileConfig struct {
	Method               string                `json:"method,omitempty"`
	Percentile           float64               `json:"percentile,omitempty"`
	Target               string                `json:"target,omitempty"`
	PerChannel           *bool                 `json:"per_channel,omitempty"`
	WeightBits           int                   `json:"weight_bits,omitempty"`
	ActBits              int                   `json:"act_bits,omitempty"`
	SymmetricActivations *bool                 `json:"symmetric_activations,omitempty"`
	WeightMethod         string                `json:"weight_method,omitempty"`
	Placement            string                `json:"placement,omitempty"`
	ExcludeNodes         []string              `json:"exclude_nodes,omitempty"`
	ExcludeOps           []string              `json:"exclude_ops,omitempty"`
	Nodes                map[string]NodeConfig `json:"nodes,omitempty"`
}

// LoadConfig reads a config file; unknown keys are an error, so a typo
// does not silently change nothing.
func LoadConfig(path string) (*FileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var fc FileConfig
	if err := dec.Decode(&fc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &fc, nil
}

// SaveConfig writes a config file (atomically, keys in a stable order).
func SaveConfig(path string, fc *FileConfig) error {
	data, err := json.MarshalIndent(fc, "", "  ")
	if err != nil {
		return err
	}
	return onnxio.WriteFileAtomic(path, append(data, '\n'))
}

// Apply copies the file's settings into cfg.
func (fc *FileConfig) Apply(cfg *Config) error {
	if fc.Method != "" {
		m, err := calibrate.ParseMethod(fc.Method)
		if err != nil {
			return err
		}
		cfg.Method = m
	}
	if fc.Percentile != 0 {
		cfg.Percentile = fc.Percentile
	}
	if fc.Target != "" {
		cfg.Target = Target(fc.Target)
	}
	if fc.PerChannel != nil {
		cfg.PerChannel = *fc.PerChannel
	}
	if fc.WeightBits != 0 {
		cfg.WeightBits = fc.WeightBits
	}
	if fc.ActBits != 0 {
		cfg.ActBits = fc.ActBits
	}
	if fc.SymmetricActivations != nil {
		cfg.SymmetricActivations = *fc.SymmetricActivations
	}
	if fc.WeightMethod != "" {
		switch m := WeightMethod(fc.WeightMethod); m {
		case WeightMinMax, WeightMSE:
			cfg.WeightMethod = m
		default:
			return fmt.Errorf("config weight_method %q: want minmax or mse", fc.WeightMethod)
		}
	}
	if fc.Placement != "" {
		switch p := rewrite.Placement(fc.Placement); p {
		case rewrite.PlaceBalanced, rewrite.PlaceSpeed, rewrite.PlaceSize:
			cfg.Placement = p
		default:
			return fmt.Errorf("config placement %q: want balanced, speed or size", fc.Placement)
		}
	}
	cfg.ExcludeNodes = append(cfg.ExcludeNodes, fc.ExcludeNodes...)
	cfg.ExcludeOps = append(cfg.ExcludeOps, fc.ExcludeOps...)
	if len(fc.Nodes) > 0 && cfg.Nodes == nil {
		cfg.Nodes = map[string]rewrite.NodeOverride{}
	}
	names := make([]string, 0, len(fc.Nodes))
	for n := range fc.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		nc := fc.Nodes[name]
		ov := rewrite.NodeOverride{Exclude: nc.Exclude}
		var err error
		if ov.Weights, err = weightType(nc.WeightBits); err != nil {
			return fmt.Errorf("config node %q: %w", name, err)
		}
		if ov.Activations, err = actType(nc.ActBits, cfg.SymmetricActivations || cfg.Target == TensorRT); err != nil {
			return fmt.Errorf("config node %q: %w", name, err)
		}
		cfg.Nodes[name] = ov
	}
	return nil
}

func weightType(bits int) (graph.DType, error) {
	switch bits {
	case 0:
		return graph.Undefined, nil
	case 8:
		return graph.Int8, nil
	case 4:
		return graph.Int4, nil
	}
	return graph.Undefined, fmt.Errorf("weight bits %d: want 8 or 4", bits)
}

func actType(bits int, signed bool) (graph.DType, error) {
	switch bits {
	case 0:
		return graph.Undefined, nil
	case 8:
		if signed {
			return graph.Int8, nil
		}
		return graph.Uint8, nil
	case 16:
		if signed {
			return graph.Int16, nil
		}
		return graph.Uint16, nil
	case 4:
		if signed {
			return graph.Int4, nil
		}
		return graph.Uint4, nil
	}
	return graph.Undefined, fmt.Errorf("activation bits %d: want 4, 8 or 16", bits)
}

// CheckNodes verifies that every node named in cfg exists in m, so that a
// misspelt name is an error instead of a silent no-op.
func CheckNodes(m *graph.Model, cfg Config) error {
	names := map[string]bool{}
	ops := map[string]bool{}
	m.Graph.Walk(func(n *graph.Node) bool {
		names[n.Name] = true
		ops[n.OpType] = true
		return true
	})
	var missing []string
	for _, n := range cfg.ExcludeNodes {
		if !names[n] {
			missing = append(missing, fmt.Sprintf("node %q", n))
		}
	}
	for n := range cfg.Nodes {
		if !names[n] {
			missing = append(missing, fmt.Sprintf("node %q", n))
		}
	}
	for _, o := range cfg.ExcludeOps {
		if !ops[o] {
			missing = append(missing, fmt.Sprintf("op type %q", o))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the model has no %s", joinList(missing))
	}
	return nil
}

func joinList(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
