package engine

import (
	"fmt"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// stringNormalizerKernel is StringNormalizer on [C] or [1, C] strings:
// it drops the stopwords (compared ignoring case unless
// is_case_sensitive) and applies case_change_action (NONE, LOWER, UPPER).
// When every string is dropped the output is one empty string.
func stringNormalizerKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	ss, ok := x.Data.([]string)
	if !ok {
		return nil, fmt.Errorf("input must be strings, got %s", x.DType)
	}
	twoD := x.Rank() == 2
	if !(x.Rank() == 1 || twoD && x.Shape[0] == 1) {
		return nil, fmt.Errorf("input must be [C] or [1, C], has shape %v", x.Shape)
	}
	nd := ctx.Node
	sensitive := nd.AttrInt("is_case_sensitive", 0) != 0
	key := func(s string) string {
		if sensitive {
			return s
		}
		return strings.ToLower(s)
	}
	stop := map[string]bool{}
	for _, w := range nd.AttrStrings("stopwords", nil) {
		stop[key(w)] = true
	}
	change := map[string]func(string) string{
		"NONE":  func(s string) string { return s },
		"LOWER": strings.ToLower,
		"UPPER": strings.ToUpper,
	}[nd.AttrString("case_change_action", "NONE")]
	var res []string
	for _, s := range ss {
		if !stop[key(s)] {
			res = append(res, change(s))
		}
	}
	if len(res) == 0 {
		res = []string{""}
	}
	shape := []int64{int64(len(res))}
	if twoD {
		shape = []int64{1, int64(len(res))}
	}
	return one(out(graph.String, shape, res))
}

func checkStringNormalizer(n *graph.Node) error {
	switch a := n.AttrString("case_change_action", "NONE"); a {
	case "NONE", "LOWER", "UPPER":
		return nil
	default:
		return fmt.Errorf("case_change_action %q must be NONE, LOWER or UPPER", a)
	}
}

func init() {
	Register(&Op{Type: "StringNormalizer", MinOpset: 10, Forward: stringNormalizerKernel, Check: checkStringNormalizer})
}

// tfIdfKernel is TfIdfVectorizer: it counts the n-grams of the pool
// (lengths min_gram_length..max_gram_length, items up to max_skip_count
// apart) in each row of X and outputs, at ngram_indexes, the count (TF),
// weight when present (IDF) or count·weight (TFIDF).
func tfIdfKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	nd := ctx.Node
	x := in[0]
	if x.Rank() != 1 && x.Rank() != 2 {
		return nil, fmt.Errorf("input must be [C] or [N, C], has shape %v", x.Shape)
	}
	// Items as strings so that int and string pools compare alike.
	var items []string
	switch d := x.Data.(type) {
	case []string:
		items = d
	default:
		v, err := TensorInts(x, "X")
		if err != nil {
			return nil, err
		}
		items = make([]string, len(v))
		for i, n := range v {
			items[i] = fmt.Sprint(n)
		}
	}
	var pool []string
	if nd.HasAttr("pool_strings") {
		pool = nd.AttrStrings("pool_strings", nil)
	} else {
		for _, n := range nd.AttrInts("pool_int64s", nil) {
			pool = append(pool, fmt.Sprint(n))
		}
	}
	counts := nd.AttrInts("ngram_counts", nil)
	indexes := nd.AttrInts("ngram_indexes", nil)
	weights := nd.AttrFloats("weights", nil)
	minN, maxN := int(nd.AttrInt("min_gram_length", 1)), int(nd.AttrInt("max_gram_length", 1))
	skip := int(nd.AttrInt("max_skip_count", 0))
	mode := nd.AttrString("mode", "TF")
	// gram key -> position in ngram_indexes.
	grams := map[string]int{}
	pos := 0
	for n := 1; n <= len(counts); n++ {
		start := int(counts[n-1])
		end := len(pool)
		if n < len(counts) {
			end = int(counts[n])
		}
		if start > end || end > len(pool) || (end-start)%n != 0 {
			return nil, fmt.Errorf("ngram_counts %v do not split a pool of %d items", counts, len(pool))
		}
		for i := start; i < end; i += n {
			grams[fmt.Sprint(n, pool[i:i+n])] = pos
			pos++
		}
	}
	if pos != len(indexes) {
		return nil, fmt.Errorf("the pool has %d n-grams but ngram_indexes has %d entries", pos, len(indexes))
	}
	width := 0
	for _, v := range indexes {
		width = max(width, int(v)+1)
	}
	rows, c := 1, len(items)
	if x.Rank() == 2 {
		rows, c = int(x.Shape[0]), int(x.Shape[1])
	}
	res := make([]float64, rows*width)
	for r := 0; r < rows; r++ {
		row := items[r*c : (r+1)*c]
		cnt := make([]float64, width)
		for n := max(minN, 1); n <= maxN; n++ {
			maxSkip := skip
			if n == 1 {
				maxSkip = 0
			}
			for s := 0; s <= maxSkip; s++ {
				for i := 0; i+(n-1)*(s+1) < len(row); i++ {
					g := make([]string, n)
					for k := range g {
						g[k] = row[i+k*(s+1)]
					}
					if p, ok := grams[fmt.Sprint(n, g)]; ok {
						cnt[indexes[p]]++
					}
				}
			}
		}
		for p, idx := range indexes {
			v := cnt[idx]
			w := 1.0
			if weights != nil {
				w = float64(weights[p])
			}
			switch mode {
			case "IDF":
				if v > 0 {
					v = w
				}
			case "TFIDF":
				v *= w
			}
			res[r*width+int(idx)] = v
		}
	}
	shape := []int64{int64(width)}
	if x.Rank() == 2 {
		shape = []int64{int64(rows), int64(width)}
	}
	return oneErr(castFloats(res, shape, graph.Float, true))
}

func checkTfIdf(n *graph.Node) error {
	switch m := n.AttrString("mode", "TF"); m {
	case "TF", "IDF", "TFIDF":
		return nil
	default:
		return fmt.Errorf("mode %q must be TF, IDF or TFIDF", m)
	}
}

func init() {
	Register(&Op{Type: "TfIdfVectorizer", MinOpset: 9, Forward: tfIdfKernel, Check: checkTfIdf})
}
