package calibrate

import (
	"fmt"
	"sort"

	"github.com/onnxq/onnxq/graph"
)

// Collector accumulates statistics while a model runs: plug Observe into
// engine.RunOptions.Observe. Each observed value feeds the statistics of
// its group (tensors that will share one scale are measured together, so
// their common range covers all of them).
type Collector struct {
	groups map[*graph.Value]string
	Stats  map[string]*Stats
	err    error
}

// NewCollector returns a collector for the given values, each mapped to the
// name of its scale group.
func NewCollector(groups map[*graph.Value]string) *Collector {
	c := &Collector{groups: groups, Stats: map[string]*Stats{}}
	for _, name := range groups {
		if c.Stats[name] == nil {
			c.Stats[name] = NewStats()
		}
	}
	return c
}

// Observe records one computed value if it belongs to a group.
func (c *Collector) Observe(v *graph.Value, t *graph.Tensor) {
	name, ok := c.groups[v]
	if !ok || c.err != nil {
		return
	}
	if t.DType != graph.Float {
		c.err = fmt.Errorf("tensor %q: calibration needs float values, got %s", v.Name, t.DType)
		return
	}
	if err := c.Stats[name].Observe(t.Data.([]float32)); err != nil {
		c.err = fmt.Errorf("tensor %q: %w", v.Name, err)
	}
}

// Err returns the first error an observation hit (a NaN or infinity in an
// activation, say), or nil.
func (c *Collector) Err() error { return c.err }

// Names returns the group names in sorted order.
func (c *Collector) Names() []string {
	names := make([]string, 0, len(c.Stats))
	for n := range c.Stats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
