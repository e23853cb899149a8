package qat

import "math"

// optState holds the optimizer's per-parameter state by parameter name.
type optState struct {
	T int                  // Adam time step
	M map[string][]float32 // momentum (SGD) or first moment (Adam)
	V map[string][]float32 // second moment (Adam)
}

func newOptState() *optState {
	return &optState{M: map[string][]float32{}, V: map[string][]float32{}}
}

// update applies one step to p given its gradient g.
func (o *optState) update(name string, p, g []float32, lr float64, c Config) {
	m := o.M[name]
	if m == nil {
		m = make([]float32, len(p))
		o.M[name] = m
	}
	wd := float32(c.WeightDecay)
	switch c.Optimizer {
	case SGD:
		mu := float32(c.Momentum)
		for i := range p {
			gi := g[i] + wd*p[i]
			m[i] = mu*m[i] + gi
			p[i] -= float32(lr) * m[i]
		}
	case Adam:
		v := o.V[name]
		if v == nil {
			v = make([]float32, len(p))
			o.V[name] = v
		}
		const b1, b2, eps = 0.9, 0.999, 1e-8
		o.T++
		// T counts parameter updates; the bias correction uses the step
		// count, which is T divided by the number of parameters updated per
		// step. Callers update every parameter once per step, so use the
		// per-name count.
		t := float64(o.steps(name))
		c1 := 1 - math.Pow(b1, t)
		c2 := 1 - math.Pow(b2, t)
		for i := range p {
			gi := g[i] + wd*p[i]
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			mh := float64(m[i]) / c1
			vh := float64(v[i]) / c2
			p[i] -= float32(lr * mh / (math.Sqrt(vh) + eps))
		}
	}
}

// steps counts the updates of one parameter (kept in V's shadow map).
func (o *optState) steps(name string) int {
	key := "#" + name
	s := o.V[key]
	if s == nil {
		s = []float32{0}
		o.V[key] = s
	}
	s[0]++
	return int(s[0])
}
