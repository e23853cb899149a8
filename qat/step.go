package qat

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// lowered is the Gorgonia form of the training graph (or of a re-batched
// copy of it) at one batch size.
type lowered struct {
	batch   int    // samples per run
	shapes  string // the shapes of the feed it was lowered for
	l       *engine.Lowered
	machine G.VM
	lossVal G.Value
	// params are the trainable values of the training model (not of the
	// copy) and nodes their Gorgonia nodes, in name order.
	params []*graph.Value
	nodes  []*G.Node
}

// lower builds the lowering of model (the training model, or a copy
// whose values match it by name) for the given feed.
func (t *trainer) lower(model *graph.Model, feed map[string]*graph.Tensor, batch int) (*lowered, error) {
	byName := map[string]*graph.Value{}
	for v := range t.trainable {
		byName[v.Name] = v
	}
	// Only values the loss depends on get gradients: the others (a head
	// that does not feed the trained output) stay as they are.
	lossName := t.loss.Outputs[0].Name
	needed := lossInputs(model, lossName)
	l, err := engine.Lower(model, feed, func(v *graph.Value) bool { return byName[v.Name] != nil && needed[v.Name] }, lossName)
	if err != nil {
		return nil, fmt.Errorf("preparing fine-tuning: %w", err)
	}
	t.noteFrozen(l.Frozen)
	lw := &lowered{batch: batch, l: l}
	loss := l.Nodes[lossValue(model, lossName)]
	if loss == nil || len(l.Params) == 0 {
		return nil, nothingToTrain(l.Frozen)
	}
	var mine []*graph.Value
	for v := range l.Params {
		mine = append(mine, v)
	}
	sortValues(mine)
	for _, v := range mine {
		lw.params = append(lw.params, byName[v.Name])
		lw.nodes = append(lw.nodes, l.Params[v])
	}
	G.Read(loss, &lw.lossVal)
	if _, err := G.Grad(loss, lw.nodes...); err != nil {
		return nil, fmt.Errorf("building gradients: %w", err)
	}
	lw.machine = G.NewTapeMachine(l.G, G.BindDualValues(lw.nodes...))
	t.lowered++
	return lw, nil
}

// lossValue returns the value of model's main graph called loss.
func lossValue(model *graph.Model, loss string) *graph.Value {
	for _, n := range model.Graph.Nodes {
		for _, o := range n.Outputs {
			if o != nil && o.Name == loss {
				return o
			}
		}
	}
	return nil
}

// ErrNothingToTrain is the error of a training run in which no trainable
// value can be trained (see FrozenValue).
var ErrNothingToTrain = errors.New("nothing to fine-tune")

func nothingToTrain(frozen []engine.Frozen) error {
	if len(frozen) == 0 {
		return fmt.Errorf("%w: the trained output does not depend on any weight or scale", ErrNothingToTrain)
	}
	parts := make([]string, len(frozen))
	for i, f := range frozen {
		parts[i] = f.String()
	}
	return fmt.Errorf("%w: the gradient of no weight or scale can be computed; frozen: %s", ErrNothingToTrain, strings.Join(parts, "; "))
}

// FrozenValue is a trainable value that fine-tuning kept as it was
// because the loss's gradient with respect to it cannot be computed.
type FrozenValue struct {
	Value string `json:"value"`
	// Node and Op name the node without a gradient on the value's way to
	// the loss (empty when no float value leads from it to the loss).
	Node   string `json:"node,omitempty"`
	Op     string `json:"op,omitempty"`
	Reason string `json:"reason"`
}

// String is `W (node "X", op Y has no gradient)`.
func (f FrozenValue) String() string { return f.Value + " (" + f.Reason + ")" }

// noteFrozen records a lowering's frozen values.
func (t *trainer) noteFrozen(frozen []engine.Frozen) {
	if t.frozen == nil {
		t.frozen = map[string]FrozenValue{}
	}
	for _, f := range frozen {
		fv := FrozenValue{Value: f.Value.Name, Reason: f.Reason()}
		if f.Node != nil {
			fv.Node, fv.Op = f.Node.Name, f.Node.OpType
		}
		t.frozen[fv.Value] = fv
	}
}

// frozenValues lists the values frozen in any lowering, by name.
func (t *trainer) frozenValues() []FrozenValue {
	var out []FrozenValue
	for _, name := range slices.Sorted(maps.Keys(t.frozen)) {
		out = append(out, t.frozen[name])
	}
	return out
}

// lossInputs returns the names of every value of model's main graph that
// the value called loss depends on.
func lossInputs(model *graph.Model, loss string) map[string]bool {
	var start *graph.Value
	for _, n := range model.Graph.Nodes {
		for _, o := range n.Outputs {
			if o != nil && o.Name == loss {
				start = o
			}
		}
	}
	seen := map[string]bool{}
	var visit func(v *graph.Value)
	visit = func(v *graph.Value) {
		if v == nil || seen[v.Name] {
			return
		}
		seen[v.Name] = true
		if v.Producer != nil {
			for _, in := range v.Producer.Inputs {
				visit(in)
			}
			// A subgraph may read outer values its node does not list.
			for _, sg := range v.Producer.Subgraphs {
				for _, o := range sg.OuterValues() {
					visit(o)
				}
			}
		}
	}
	visit(start)
	return seen
}

func sortValues(vs []*graph.Value) {
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && vs[j].Name < vs[j-1].Name; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}

// lowering returns the lowering that runs a batch of the given samples,
// making it current (its parameters loaded from the initializers).
func (t *trainer) lowering(batch []int, feeds []map[string]*graph.Tensor) (*lowered, error) {
	n := len(batch)
	if t.cfg.Accumulate || t.rebatchErr != nil {
		n = 1
	}
	shapes := feedShapes(feeds[0])
	lw := t.lowerings[n]
	if lw != nil && lw.shapes != shapes {
		// Samples of another size (images kept at their own aspect):
		// the lowering has the old shapes built in.
		if lw == t.cur {
			t.writeBack()
			t.cur = nil
		}
		lw.machine.Close()
		delete(t.lowerings, n)
		lw = nil
	}
	if lw == nil {
		var err error
		if n == 1 {
			lw, err = t.lower(t.tm.Model, feeds[0], 1)
		} else {
			lw, err = t.lowerBatched(feeds)
			if lw == nil && err == nil {
				return t.lowering(batch, feeds) // not batchable: accumulate
			}
		}
		if err != nil {
			return nil, err
		}
		if t.lowerings == nil {
			t.lowerings = map[int]*lowered{}
		}
		lw.shapes = shapes
		t.lowerings[n] = lw
	}
	if lw != t.cur {
		t.writeBack()
		t.loadParams(lw)
		t.cur = lw
	}
	return lw, nil
}

// feedShapes names the shapes of a sample's tensors, in name order.
func feedShapes(feed map[string]*graph.Tensor) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(feed)) {
		fmt.Fprintf(&b, "%s%v;", name, feed[name].Shape)
	}
	return b.String()
}

// lowerBatched lowers a re-batched copy of the training model for
// len(feeds) samples. It returns nil (and records why in rebatchErr) when
// the copy does not compute row by row what the model computes.
func (t *trainer) lowerBatched(feeds []map[string]*graph.Tensor) (*lowered, error) {
	t.writeBack() // the copy starts from the current values
	bm, err := batchModel(t.tm.Model, feeds[0], len(feeds))
	if err == nil && !t.rebatched {
		err = checkBatched(t.tm.Model, bm, feeds, t.out.Name)
	}
	if err != nil {
		t.rebatchErr = fmt.Errorf("cannot run %d samples at once, accumulating gradients sample by sample: %w", len(feeds), err)
		return nil, nil
	}
	joined, err := stackSamples(feeds)
	if err != nil {
		return nil, err
	}
	lw, err := t.lower(bm, joined, len(feeds))
	if err != nil {
		return nil, err
	}
	t.rebatched = true
	return lw, nil
}

// dropLowerings forgets every lowering and closes its machine. It does not
// write the current values back: call writeBack first when they are newer
// than the initializers.
func (t *trainer) dropLowerings() {
	for _, lw := range t.lowerings {
		lw.machine.Close()
	}
	t.lowerings, t.cur = nil, nil
}

// writeBack stores the current lowering's parameters into the model's
// initializers.
func (t *trainer) writeBack() {
	lw := t.cur
	if lw == nil {
		return
	}
	for k, v := range lw.params {
		p := valueData(lw.nodes[k].Value())
		v.Const = graph.MustTensor(graph.Float, v.Const.Shape, append([]float32{}, p...))
	}
}

// loadParams copies the initializers' values into a lowering's parameters.
func (t *trainer) loadParams(lw *lowered) {
	for k, v := range lw.params {
		setValue(lw.nodes[k].Value(), v.Const.Data.([]float32))
	}
}

// feeds returns the inputs of the samples with their training targets.
func (t *trainer) feeds(batch []int) ([]map[string]*graph.Tensor, error) {
	samples := make([]map[string]*graph.Tensor, len(batch))
	for k, i := range batch {
		var err error
		if samples[k], err = t.data.Inputs.Sample(i); err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
	}
	tgts, err := t.targets(batch, samples)
	if err != nil {
		return nil, err
	}
	feeds := make([]map[string]*graph.Tensor, len(batch))
	for k, sample := range samples {
		feed := map[string]*graph.Tensor{t.tgt.Name: tgts[k]}
		for name, v := range sample {
			feed[name] = v
		}
		feeds[k] = feed
	}
	return feeds, nil
}

// run feeds one run of lw and returns the loss and the gradients.
func (lw *lowered) run(feed map[string]*graph.Tensor) (float64, [][]float32, error) {
	if err := lw.l.Feed(feed); err != nil {
		return 0, nil, err
	}
	lw.machine.Reset()
	lw.l.Step()
	if err := lw.l.Run(lw.machine); err != nil {
		return 0, nil, err
	}
	// Gorgonia adds each run's gradients to the parameters' dual values:
	// copy them out and zero them for the next run.
	grads := make([][]float32, len(lw.nodes))
	for k, n := range lw.nodes {
		gv, err := n.Grad()
		if err != nil {
			return 0, nil, fmt.Errorf("gradient of %q: %w", lw.params[k].Name, err)
		}
		grads[k] = append([]float32(nil), valueData(gv)...)
		zeroValue(gv)
	}
	return scalarOf(lw.lossVal), grads, nil
}

// step runs forward and backward over one batch and updates the
// parameters. A re-batched lowering runs the batch at once (its loss is
// the mean over the rows); otherwise each sample runs at the model's own
// batch size and the gradients are averaged, which is the same gradient.
func (t *trainer) step(batch []int, step, totalSteps int) (float64, error) {
	feeds, err := t.feeds(batch)
	if err != nil {
		return 0, err
	}
	lw, err := t.lowering(batch, feeds)
	if err != nil {
		return 0, err
	}
	var grads [][]float32
	var lossSum float64
	if lw.batch == len(batch) {
		joined := feeds[0]
		if len(feeds) > 1 {
			if joined, err = stackSamples(feeds); err != nil {
				return 0, err
			}
		}
		loss, g, err := lw.run(joined)
		if err != nil {
			return 0, err
		}
		lossSum, grads = loss*float64(len(batch)), g
	} else {
		for k, f := range feeds {
			loss, g, err := lw.run(f)
			if err != nil {
				return 0, err
			}
			lossSum += loss
			if k == 0 {
				grads = g
				continue
			}
			for j := range g {
				acc := grads[j]
				for e, x := range g[j] {
					acc[e] += x
				}
			}
		}
		inv := float32(1 / float64(len(batch)))
		for _, g := range grads {
			for e := range g {
				g[e] *= inv
			}
		}
	}
	lr := t.lr(step, totalSteps)
	for k, v := range lw.params {
		p := valueData(lw.nodes[k].Value())
		t.opt.update(v.Name, p, grads[k], lr, t.cfg)
		if t.isScale(v) {
			for e := range p {
				if p[e] < 1e-8 {
					p[e] = 1e-8 // scales stay positive
				}
			}
		}
		setValue(lw.nodes[k].Value(), p)
	}
	return lossSum / float64(len(batch)), nil
}

// setValue stores data into a parameter's value in place (a scalar
// parameter is a *G.F32, whose valueData is a copy).
func setValue(v G.Value, data []float32) {
	switch x := v.(type) {
	case *tensor.Dense:
		copy(x.Data().([]float32), data)
	case *G.F32:
		*x = G.F32(data[0])
	}
}

// zeroValue sets a gradient value to zero in place.
func zeroValue(v G.Value) {
	switch x := v.(type) {
	case *tensor.Dense:
		x.Zero()
	case *G.F32:
		*x = 0
	}
}
