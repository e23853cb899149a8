package dataset

// Image presets beyond those of the reference models' own preprocessing
// (image.go). They live in a file of their own so that the reference
// presets stay exactly what the models' authors do.
func init() {
	// ppocr-det-640 is ppocr-det at a fixed 640x640 (the photo stretched,
	// its aspect ratio not kept): every sample has one shape, so each costs
	// the same and a benchmark can compare engines and sample counts on
	// PP-OCRv4 det at a known size (scripts/bench-calibration.sh).
	// PaddleOCR's own preprocessing (ppocr-det) gives each photo its own
	// size.
	p := ImagePresets["ppocr-det"]
	p.Resize, p.Width, p.Height, p.Size, p.Multiple = ResizeExact, 640, 640, 0, 0
	ImagePresets["ppocr-det-640"] = p
}
