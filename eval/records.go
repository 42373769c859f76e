package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/parquet-go/parquet-go"
)

// Record is one dataset row as generic JSON-like values: string, json.Number
// or Go integers/floats, bool, nil, []any and map[string]any.
type Record map[string]any

// ReadRecords reads a dataset file, choosing the format by extension:
// .jsonl/.ndjson (one object per line), .json (an array of objects, or an
// object holding one such array) or .parquet.
func ReadRecords(path string) ([]Record, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".jsonl", ".ndjson":
		return readJSONL(path)
	case ".json":
		return readJSON(path)
	case ".parquet":
		return readParquet(path)
	default:
		return nil, fmt.Errorf("%s: unsupported data file extension %q (want .jsonl, .json or .parquet)", path, ext)
	}
}

func readJSONL(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var r Record
		if err := decodeJSON(b, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

func readJSON(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v any
	if err := decodeJSON(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if obj, ok := v.(map[string]any); ok {
		// {"test": [...]} or {"data": [...]}: accept exactly one array value.
		var arrays []string
		for k, x := range obj {
			if _, ok := x.([]any); ok {
				arrays = append(arrays, k)
			}
		}
		if len(arrays) != 1 {
			return nil, fmt.Errorf("%s: want a JSON array of objects (or an object holding exactly one array), found an object with keys %v", path, keys(obj))
		}
		v = obj[arrays[0]]
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a JSON array of objects", path)
	}
	recs := make([]Record, len(arr))
	for i, x := range arr {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: element %d is not an object", path, i)
		}
		recs[i] = m
	}
	return recs, nil
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// readParquet reads every row of a parquet file as a generic record.
// Nested LIST columns come back as []any whatever the writer named the
// inner levels (parquet-go unwraps the standard list/element layout;
// normalizeValue also unwraps the older list/item and array layouts).
func readParquet(path string) (recs []Record, err error) {
	defer func() {
		// parquet-go panics on some malformed files; report them as errors.
		if p := recover(); p != nil {
			recs, err = nil, fmt.Errorf("%s: reading parquet: %v", path, p)
		}
	}()
	rows, err := parquet.ReadFile[any](path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	recs = make([]Record, len(rows))
	for i, row := range rows {
		m, ok := normalizeValue(row).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: row %d is not a record (%T)", path, i, row)
		}
		recs[i] = m
	}
	return recs, nil
}

// normalizeValue turns parquet-go's generic values into JSON-like ones: byte
// slices become strings and 3-level LIST wrappers ({"list": [{"element": x}]}
// or {"list": [{"item": x}]}, {"array": [...]}) become []any.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	case map[string]any:
		if len(x) == 1 {
			for k, inner := range x {
				if l, ok := inner.([]any); ok && (k == "list" || k == "array" || k == "bag") {
					out := make([]any, len(l))
					for i, e := range l {
						if m, ok := e.(map[string]any); ok && len(m) == 1 {
							for ek, ev := range m {
								if ek == "element" || ek == "item" || ek == "array" {
									e = ev
								}
							}
						}
						out[i] = normalizeValue(e)
					}
					return out
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeValue(e)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8 {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalizeValue(rv.Index(i).Interface())
		}
		return out
	}
	return v
}

// str returns a required string field.
func (r Record) str(key string) (string, error) {
	v, ok := r[key]
	if !ok {
		return "", fmt.Errorf("missing field %q", key)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("field %q is %T, want a string", key, v)
	}
	return s, nil
}

// optStr returns a field as Python's str() would print it, or "" if absent.
func (r Record) optStr(key string) string {
	v, ok := r[key]
	if !ok || v == nil {
		return ""
	}
	return pyStr(v)
}

// strList returns a list of strings (a JSON array or parquet LIST).
func strList(v any) ([]string, error) {
	if v == nil {
		return nil, errors.New("missing")
	}
	arr, ok := normalizeValue(v).([]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a list", v)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			s = pyStr(e)
		}
		out[i] = s
	}
	return out, nil
}

// pyStr formats a value as Python's str() does for the types datasets hold.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case json.Number:
		s := x.String()
		if strings.ContainsAny(s, ".eE") {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return pyFloat(f)
			}
		}
		return s
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return pyFloat(x)
	case float32:
		return pyFloat(float64(x))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// pyFloat is Python's repr of a float (shortest round-trip; integral values
// keep ".0"; exponent form outside [1e-4, 1e16)).
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	a := math.Abs(f)
	if a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e+06 / e-05; Python writes e+16 / e-05 (two digits min).
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// Python's str.isspace: Unicode White_Space plus the ASCII separators
// \x1c-\x1f that Go's unicode.IsSpace leaves out.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// normalize is the reference's normalize_answer: strip, then lower-case.
func normalize(s string) string { return strings.ToLower(pyStrip(s)) }

// Regular-expression pieces for Python's Unicode \d and \s.
const (
	pyDigit = `\p{Nd}`
	pySpace = `[\s\v\p{Z}\x{85}\x{1c}-\x{1f}]`
)
