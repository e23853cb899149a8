// Package outpath is the one policy for the files a command writes. Given
// the paths a command reads and the paths it writes, Check refuses, before
// any work:
//
//   - an output that is one of the inputs, by path, through a symbolic link
//     or as a hard link (same device and inode), or that lies inside an
//     input folder;
//   - two outputs that are one file;
//   - an output that exists and is not a regular file (a device, a named
//     pipe, a socket, a folder): onnxq replaces regular files only;
//   - an output whose folder is missing or not writable (a temporary file
//     is created and removed there to find out).
//
// The writes themselves go through onnxio.WriteFileAtomic, which refuses
// non-regular files again at write time.
package outpath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// File is one path a command reads or writes.
type File struct {
	// Flag is how messages name the path: "-o", "--report", "the input
	// model"... (followed by the path).
	Flag string
	Path string
	// Folder marks a folder: an input read as a folder of samples, or an
	// output folder the command fills with the files Writes names.
	Folder bool
	// Writes are the names (path.Match patterns) an output Folder gets.
	Writes []string
}

// Plan is what one command reads and writes. Empty paths are ignored.
type Plan struct {
	Inputs, Outputs []File
}

// Check applies the policy to p; see the package comment. Its error is one
// line naming the flag, the path and what to do.
func Check(p Plan) error {
	var outs []output
	for _, f := range p.Outputs {
		if f.Path == "" {
			continue
		}
		o, err := newOutput(f)
		if err != nil {
			return err
		}
		for _, in := range p.Inputs {
			if in.Path == "" {
				continue
			}
			if err := o.against(in); err != nil {
				return err
			}
		}
		for _, prev := range outs {
			if o.sameAs(prev) || o.inFolder(prev) || prev.inFolder(o) {
				return fmt.Errorf("%s %s would overwrite %s %s, which this command also writes; choose another file", f.Flag, f.Path, prev.f.Flag, prev.f.Path)
			}
		}
		outs = append(outs, o)
	}
	checked := map[string]bool{}
	for _, o := range outs {
		if checked[o.dir] {
			continue
		}
		checked[o.dir] = true
		if err := writable(o); err != nil {
			return err
		}
	}
	return nil
}

// output is an output path with what is known of it before it is written.
type output struct {
	f File
	// resolved is the absolute path with symbolic links resolved as far
	// as the path exists.
	resolved string
	st       fs.FileInfo // nil when nothing is there yet
	dir      string      // the existing folder the command writes in
}

func newOutput(f File) (output, error) {
	o := output{f: f, resolved: resolve(f.Path)}
	st, err := os.Stat(f.Path)
	switch {
	case err == nil:
		o.st = st
	case !errors.Is(err, fs.ErrNotExist):
		return o, fmt.Errorf("%s %s: %v", f.Flag, f.Path, unwrap(err))
	}
	if st != nil {
		switch {
		case f.Folder && !st.IsDir():
			return o, fmt.Errorf("%s %s is %s, not a folder; choose a folder (it is created if missing)", f.Flag, f.Path, Kind(st.Mode()))
		case !f.Folder && !st.Mode().IsRegular():
			return o, fmt.Errorf("%s %s is %s; onnxq replaces only regular files: choose a file path", f.Flag, f.Path, Kind(st.Mode()))
		}
	}
	o.dir = filepath.Dir(o.resolved)
	if f.Folder {
		// The report folder is created if missing: what must be writable
		// is the folder itself, or the nearest one that exists.
		o.dir = o.resolved
		for {
			if st, err := os.Stat(o.dir); err == nil && st.IsDir() {
				break
			}
			parent := filepath.Dir(o.dir)
			if parent == o.dir {
				break
			}
			o.dir = parent
		}
		return o, nil
	}
	if st, err := os.Stat(o.dir); err != nil || !st.IsDir() {
		return o, fmt.Errorf("%s %s: folder %s does not exist; create it first", f.Flag, f.Path, filepath.Dir(f.Path))
	}
	return o, nil
}

// against refuses o when writing it would change the input in.
func (o output) against(in File) error {
	what := in.Flag + " " + in.Path
	ist, err := os.Stat(in.Path)
	if err != nil {
		// The reader reports a missing input; the output must still not
		// take its name.
		if o.resolved == resolve(in.Path) {
			return fmt.Errorf("%s %s would overwrite %s, which this command reads; choose another file", o.f.Flag, o.f.Path, what)
		}
		return nil
	}
	switch {
	case o.st != nil && os.SameFile(o.st, ist):
		return fmt.Errorf("%s %s would overwrite %s, which this command reads; choose another file", o.f.Flag, o.f.Path, what)
	case ist.IsDir() && within(o.resolved, ist):
		return fmt.Errorf("%s %s would write inside %s, a folder this command reads; choose a path outside it", o.f.Flag, o.f.Path, what)
	case !ist.IsDir() && o.f.Folder && o.st != nil && o.holds(in.Path, ist):
		return fmt.Errorf("%s %s would overwrite %s, which this command reads; choose another folder", o.f.Flag, o.f.Path, what)
	}
	return nil
}

// sameAs reports whether o and p name one file.
func (o output) sameAs(p output) bool {
	if o.st != nil && p.st != nil {
		return os.SameFile(o.st, p.st)
	}
	return o.resolved == p.resolved
}

// inFolder reports whether the output file o is one of the files the
// output folder p is filled with.
func (o output) inFolder(p output) bool {
	if o.f.Folder || !p.f.Folder {
		return false
	}
	return filepath.Dir(o.resolved) == p.resolved && matches(p.f.Writes, filepath.Base(o.resolved))
}

// holds reports whether the existing output folder o is filled with a
// file called like the file at name (whose info is st) and is its folder.
func (o output) holds(name string, st fs.FileInfo) bool {
	if !matches(o.f.Writes, filepath.Base(name)) {
		return false
	}
	dst, err := os.Stat(filepath.Dir(name))
	return err == nil && os.SameFile(dst, o.st)
}

func matches(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// within reports whether the path p lies inside the folder dir (at any
// depth), comparing folders by identity so that links do not hide it.
func within(p string, dir fs.FileInfo) bool {
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && os.SameFile(st, dir) {
			return true
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
}

// resolve returns p absolute, with the symbolic links of the longest part
// of it that exists resolved.
func resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	parent := filepath.Dir(abs)
	if parent == abs {
		return abs
	}
	return filepath.Join(resolve(parent), filepath.Base(abs))
}

// writable creates and removes a temporary file in the folder o is
// written in.
func writable(o output) error {
	f, err := os.CreateTemp(o.dir, ".onnxq-write-check-*")
	if err != nil {
		return fmt.Errorf("%s %s: cannot write in folder %s (%v); choose a writable folder", o.f.Flag, o.f.Path, o.dir, unwrap(err))
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("%s %s: cannot remove a test file from folder %s (%v)", o.f.Flag, o.f.Path, o.dir, unwrap(err))
	}
	return nil
}

// Target returns the file that writing path replaces, for an atomic
// writer: path itself, or the file a symbolic link at path leads to (the
// link is kept). perm is the permission the written file gets: that of
// the file replaced, or 0666 for a new file, which the umask reduces when
// the file is created. It refuses to replace anything but a regular file.
func Target(p string) (target string, perm fs.FileMode, exists bool, err error) {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p, 0o666, false, nil
	case err != nil:
		return "", 0, false, err
	case !st.Mode().IsRegular():
		return "", 0, false, fmt.Errorf("%s is %s; onnxq replaces only regular files", p, Kind(st.Mode()))
	}
	if target, err = filepath.EvalSymlinks(p); err != nil {
		return "", 0, false, err
	}
	return target, st.Mode().Perm(), true, nil
}

// unwrap returns the reason of a *fs.PathError without the operation and
// path it repeats.
func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Kind names the kind of a file that is not a regular one ("a device",
// "a named pipe"...), for error messages.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file (" + m.Type().String() + ")"
}
