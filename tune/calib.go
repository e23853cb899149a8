package tune

import (
	"fmt"
	"math"
	"strings"

	"github.com/onnxq/onnxq/calibrate"
	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/rewrite"
)

// ValueStats are calibration statistics of every float tensor of a model,
// each on its own, by name. The statistics of a tensor computed by the
// float model do not depend on which other tensors are quantized, so one
// calibration run serves every variant: the statistics of a variant's
// scale group are the exact merge of its members' (GroupStats).
type ValueStats struct {
	Samples int
	Tensors map[string]*calibrate.Stats
	ranges  map[string]rewrite.Range // by group (see Ranges)
}

// CalibrateValues runs the float program over src and collects the
// statistics of every float graph input and node output.
func CalibrateValues(prog *engine.Program, src dataset.Source, progress func(done, total int)) (*ValueStats, error) {
	groups := map[*graph.Value]string{}
	m := prog.Model
	for _, g := range m.Graph.Graphs() {
		for _, v := range g.Inputs {
			if !v.IsConst() && v.ElemType() == graph.Float {
				groups[v] = v.Name
			}
		}
		for _, n := range g.Nodes {
			for _, v := range n.Outputs {
				if v != nil && v.ElemType() == graph.Float {
					groups[v] = v.Name
				}
			}
		}
	}
	col := calibrate.NewCollector(groups)
	n := src.Len()
	if err := ptq.Observe(prog, src, col, progress); err != nil {
		return nil, err
	}
	return &ValueStats{Samples: n, Tensors: col.Stats}, nil
}

// GroupStats returns the statistics of each activation scale group of
// plan, keyed by the group representative's name, as ptq.Calibrate would
// have measured them: the merge of the members' statistics, with the data
// of constant members of mixed groups added. Groups of constants only
// need none (ptq.Ranges covers their data exactly).
func (vs *ValueStats) GroupStats(plan *rewrite.Plan) (*calibrate.File, error) {
	out := &calibrate.File{Version: calibrate.FileVersion, Samples: vs.Samples, Tensors: map[string]*calibrate.Stats{}}
	for _, rep := range plan.Activations() {
		members := plan.GroupMembers(rep)
		allConst := true
		for _, v := range members {
			if !v.IsConst() {
				allConst = false
			}
		}
		if allConst {
			continue
		}
		s, err := vs.groupStats(members)
		if err != nil {
			return nil, err
		}
		out.Tensors[rep.Name] = s
	}
	return out, nil
}

// groupStats merges the statistics of a group's members.
func (vs *ValueStats) groupStats(members []*graph.Value) (*calibrate.Stats, error) {
	s := calibrate.NewStats()
	for _, v := range members {
		if v.IsConst() {
			f, err := v.Const.Float32s()
			if err != nil {
				return nil, fmt.Errorf("constant %q: %w", v.Name, err)
			}
			if err := s.Observe(f); err != nil {
				return nil, fmt.Errorf("constant %q: %w", v.Name, err)
			}
			continue
		}
		vst, ok := vs.Tensors[v.Name]
		if !ok {
			return nil, fmt.Errorf("no statistics for tensor %q: it was not computed during calibration", v.Name)
		}
		if err := s.Merge(vst); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", v.Name, err)
		}
	}
	return s, nil
}

// Ranges returns the calibrated range of every activation group of plan
// with the configured method, as ptq.Ranges computes them. A group's range
// depends only on its members, its type and the method, so ranges are
// remembered across variants (some methods search thousands of
// candidate ranges over the histogram).
func (vs *ValueStats) Ranges(plan *rewrite.Plan, cfg ptq.Config) (map[*graph.Value]rewrite.Range, error) {
	out := map[*graph.Value]rewrite.Range{}
	for _, rep := range plan.Activations() {
		members := plan.GroupMembers(rep)
		spec := plan.Specs[rep]
		var key strings.Builder
		fmt.Fprintf(&key, "%s|%v|%v|%g", spec.Type.DType, spec.Type.Narrow, spec.Symmetric, cfg.Percentile)
		allConst := true
		for _, v := range members {
			key.WriteString("|" + v.Name)
			allConst = allConst && v.IsConst()
		}
		if r, ok := vs.ranges[key.String()]; ok {
			out[rep] = r
			continue
		}
		var r rewrite.Range
		if allConst {
			// A group of constants is quantized to cover its values
			// exactly (ptq.Ranges).
			r = rewrite.Range{Min: math.Inf(1), Max: math.Inf(-1)}
			for _, v := range members {
				f, err := v.Const.Float32s()
				if err != nil {
					return nil, fmt.Errorf("constant %q: %w", v.Name, err)
				}
				for _, x := range f {
					r.Min, r.Max = math.Min(r.Min, float64(x)), math.Max(r.Max, float64(x))
				}
			}
		} else {
			st, err := vs.groupStats(members)
			if err != nil {
				return nil, err
			}
			lo, hi, err := st.Range(cfg.Method, calibrate.RangeOptions{Type: spec.Type, Symmetric: spec.Symmetric, Percentile: cfg.Percentile})
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", rep.Name, err)
			}
			r = rewrite.Range{Min: lo, Max: hi}
		}
		if vs.ranges == nil {
			vs.ranges = map[string]rewrite.Range{}
		}
		vs.ranges[key.String()] = r
		out[rep] = r
	}
	return out, nil
}
