package engine

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxq/onnxq/graph"
)

// nmsKernel is NonMaxSuppression: for every batch and class, boxes are
// visited by decreasing score (those not above score_threshold skipped)
// and kept unless their IoU with a kept box exceeds iou_threshold, up to
// max_output_boxes_per_class. The output lists [batch, class, box] int64
// triples, by batch, class and selection order. Boxes are corners
// [y1, x1, y2, x2] in any order (center_point_box 0) or [xc, yc, w, h]
// (center_point_box 1).
func nmsKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	boxes, scores := in[0], in[1]
	if boxes.Rank() != 3 || boxes.Shape[2] != 4 || scores.Rank() != 3 || scores.Shape[0] != boxes.Shape[0] || scores.Shape[2] != boxes.Shape[1] {
		return nil, fmt.Errorf("boxes %v and scores %v must be [B, N, 4] and [B, C, N]", boxes.Shape, scores.Shape)
	}
	var maxOut int64
	if t := optIn(in, 2); t != nil {
		v, err := TensorInts(t, "max_output_boxes_per_class")
		if err != nil || len(v) != 1 {
			return nil, fmt.Errorf("max_output_boxes_per_class must be one integer")
		}
		maxOut = v[0]
	}
	iouTh, scoreTh := 0.0, math.Inf(-1)
	var err error
	if t := optIn(in, 3); t != nil {
		if iouTh, err = ScalarFloat(t, "iou_threshold"); err != nil {
			return nil, err
		}
	}
	if t := optIn(in, 4); t != nil {
		if scoreTh, err = ScalarFloat(t, "score_threshold"); err != nil {
			return nil, err
		}
	}
	bv, err := toFloat64s(boxes)
	if err != nil {
		return nil, err
	}
	sv, err := toFloat64s(scores)
	if err != nil {
		return nil, err
	}
	center := ctx.Node.AttrInt("center_point_box", 0) != 0
	nb, nc, n := int(scores.Shape[0]), int(scores.Shape[1]), int(scores.Shape[2])
	// corners returns box i of batch b as (ymin, xmin, ymax, xmax).
	corners := func(b, i int) [4]float64 {
		p := bv[(b*n+i)*4:][:4]
		if center {
			xc, yc, w, h := p[0], p[1], p[2], p[3]
			return [4]float64{yc - h/2, xc - w/2, yc + h/2, xc + w/2}
		}
		return [4]float64{math.Min(p[0], p[2]), math.Min(p[1], p[3]), math.Max(p[0], p[2]), math.Max(p[1], p[3])}
	}
	iou := func(a, c [4]float64) float64 {
		ih := math.Min(a[2], c[2]) - math.Max(a[0], c[0])
		iw := math.Min(a[3], c[3]) - math.Max(a[1], c[1])
		if ih <= 0 || iw <= 0 {
			return 0
		}
		inter := ih * iw
		union := (a[2]-a[0])*(a[3]-a[1]) + (c[2]-c[0])*(c[3]-c[1]) - inter
		if union <= 0 {
			return 0
		}
		return inter / union
	}
	var sel []int64
	for b := 0; b < nb; b++ {
		for c := 0; c < nc; c++ {
			s := sv[(b*nc+c)*n:][:n]
			var order []int
			for i, v := range s {
				if v > scoreTh {
					order = append(order, i)
				}
			}
			sort.SliceStable(order, func(p, q int) bool { return s[order[p]] > s[order[q]] })
			var kept [][4]float64
			for _, i := range order {
				if int64(len(kept)) >= maxOut {
					break
				}
				box := corners(b, i)
				ok := true
				for _, k := range kept {
					if iou(box, k) > iouTh {
						ok = false
						break
					}
				}
				if ok {
					kept = append(kept, box)
					sel = append(sel, int64(b), int64(c), int64(i))
				}
			}
		}
	}
	return one(out(graph.Int64, []int64{int64(len(sel) / 3), 3}, sel))
}

func init() {
	Register(&Op{Type: "NonMaxSuppression", MinOpset: 10, Forward: nmsKernel})
}
