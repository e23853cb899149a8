package qat

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// resumeConfig exercises every piece of state a checkpoint must hold:
// Adam moments and step counts, learned scales, the warm-up and cosine
// schedule position, the epoch's sample order and a precision schedule
// that rescales weights at epoch 1 (8 -> 4 bits).
func resumeConfig() Config {
	return Config{Epochs: 2, BatchSize: 16, LR: 1e-3, Optimizer: Adam, Schedule: Cosine, WarmupSteps: 3, Seed: 7,
		LearnScales: true, Loss: DistillKL, Temperature: 1000, CheckpointEvery: 4,
		Bits: []BitsStep{{Epoch: 1, Weights: 4}}}
}

// TestResumeMatchesUninterrupted trains mnist-7 (8-bit PTQ, 160 images:
// 10 steps per epoch, 20 in all) without interruption, then stops runs
// part-way and resumes them, and requires the final initializers to be
// identical bit for bit:
//
//   - killed: the process dies after step K; only the periodic checkpoint
//     of step 4*floor(K/4) (or of the end of epoch 0, step 10) survives (simulated by keeping a copy of the
//     file as it was when step K ran and putting it back);
//   - cancelled: the context is cancelled after step K, and the run writes
//     a checkpoint at K before returning;
//   - max-steps: MaxSteps = K, which also writes a checkpoint at K.
func TestResumeMatchesUninterrupted(t *testing.T) {
	data := Data{Inputs: mnistImages(t, "train-images-idx3-ubyte.gz", 1000, 160), Teacher: mnistTeacher(t)}
	fresh := func() *TrainingModel {
		tm, err := ToTraining(mnistQDQ(t, 8, 8, 50))
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	whole := fresh()
	cfg := resumeConfig()
	cfg.CheckpointPath = filepath.Join(t.TempDir(), "whole.ckpt")
	res, err := Train(whole, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 20 || !res.Rebatched {
		t.Fatalf("uninterrupted run: %d steps, rebatched %v (%s)", res.Steps, res.Rebatched, res.Accumulated)
	}
	want := initializers(whole.Model)
	for _, c := range []struct {
		name   string
		stopAt int
		how    string
		from   int // step the resumed run starts at
	}{
		{"killed-at-9", 9, "kill", 8},
		{"killed-at-11", 11, "kill", 10}, // the end of epoch 0 is checkpointed too
		{"killed-at-15", 15, "kill", 12},
		{"cancelled-at-6", 6, "cancel", 6},
		{"max-steps-13", 13, "max-steps", 13},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run.ckpt")
			cfg := resumeConfig()
			cfg.CheckpointPath = path
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var atStop []byte
			switch c.how {
			case "max-steps":
				cfg.MaxSteps = c.stopAt
			default:
				cfg.Context = ctx
				cfg.Progress = func(p Progress) {
					if p.Step == c.stopAt && p.Score == nil {
						// What a kill would leave: the file as it is now.
						atStop, _ = os.ReadFile(path)
						cancel()
					}
				}
			}
			first, err := Train(fresh(), data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if first.Steps != c.stopAt {
				t.Fatalf("the first run stopped at step %d, want %d (%s)", first.Steps, c.stopAt, first.StoppedBy)
			}
			if c.how == "kill" {
				if err := os.WriteFile(path, atStop, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			resumed := fresh()
			cfg = resumeConfig()
			cfg.CheckpointPath, cfg.Resume = path, true
			res, err := Train(resumed, data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.ResumedAt != c.from || res.Steps != 20 {
				t.Fatalf("resumed at step %d and ran to %d, want %d and 20", res.ResumedAt, res.Steps, c.from)
			}
			if err := sameBits(initializers(resumed.Model), want); err != nil {
				t.Fatalf("resumed run differs from the uninterrupted one: %v", err)
			}
		})
	}
}

// TestLoweredOncePerPrecision checks that training lowers the model once
// per batch size and again only when the precision schedule changes the
// widths, not at every epoch: each lowering of a large model holds
// gigabytes (PP-OCRv4 det at 640x640: 3.3 GB), and lowering every epoch
// made a 30-epoch run grow past the machine's memory.
func TestLoweredOncePerPrecision(t *testing.T) {
	data := Data{Inputs: mnistImages(t, "train-images-idx3-ubyte.gz", 1000, 48), Teacher: mnistTeacher(t)}
	for _, c := range []struct {
		name string
		bits []BitsStep
		want int
	}{
		{"no schedule", nil, 1},
		{"4-bit weights from epoch 1", []BitsStep{{Epoch: 1, Weights: 4}}, 2},
	} {
		tm, err := ToTraining(mnistQDQ(t, 8, 8, 50))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Train(tm, data, Config{Epochs: 3, BatchSize: 16, LR: 1e-4, Loss: DistillKL, Temperature: 1000, Seed: 1, Bits: c.bits})
		if err != nil {
			t.Fatal(err)
		}
		if res.Epochs != 3 || res.Lowerings != c.want {
			t.Errorf("%s: %d epochs, %d lowerings; want 3 epochs, %d lowerings", c.name, res.Epochs, res.Lowerings, c.want)
		}
	}
}
