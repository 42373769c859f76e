package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/logging"
)

// ErrNoChatTemplate is returned by ApplyChatTemplate when the tokenizer has no
// chat template.
var ErrNoChatTemplate = errors.New("tokenizer: no chat_template in tokenizer_config.json (or chat_template.jinja)")

// Message is one chat message.
type Message struct {
	Role    string
	Content string
	// ReasoningContent, when non-nil, is the message's reasoning_content
	// (Qwen3's template then uses it instead of splitting <think> out of
	// Content). nil leaves it undefined.
	ReasoningContent *string
}

// ChatOptions are the arguments of apply_chat_template besides the messages.
type ChatOptions struct {
	// AddGenerationPrompt appends the assistant header.
	AddGenerationPrompt bool
	// EnableThinking is Qwen3's enable_thinking; nil leaves it undefined in
	// the template (the reference's default).
	EnableThinking *bool
	// Tools, when non-empty, are the tool schemas (JSON objects; key order is
	// kept, as Python keeps dict order).
	Tools []json.RawMessage
	// Vars are extra template variables (chat_template_kwargs).
	Vars map[string]any
}

// Bool returns a pointer to b, for ChatOptions.EnableThinking.
func Bool(b bool) *bool { return &b }

type chatTemplate struct {
	tmpl *exec.Template
}

// chatEnv is transformers' Jinja environment for chat templates:
// trim_blocks, lstrip_blocks, loop controls, Python-style tojson,
// raise_exception and strftime_now.
func newChatTemplate(src string) (*chatTemplate, error) {
	logging.SetEnabled(false)
	cfg := config.New()
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	// a private copy of gonja's filters, so the shared table is not changed
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	if err := filters.Replace("tojson", filterPyJSON); err != nil {
		return nil, err
	}
	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	ctx.Set("raise_exception", func(msg string) (string, error) {
		return "", fmt.Errorf("chat template raised: %s", msg)
	})
	ctx.Set("strftime_now", func(format string) string { return strftime(time.Now(), format) })
	env := &exec.Environment{
		Context:           ctx,
		Filters:           filters,
		Tests:             builtins.Tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           builtins.Methods,
	}
	loader, err := loaders.NewMemoryLoader(map[string]string{"/chat_template": src})
	if err != nil {
		return nil, err
	}
	tmpl, err := exec.NewTemplate("/chat_template", cfg, loader, env)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: chat_template: %w", err)
	}
	return &chatTemplate{tmpl: tmpl}, nil
}

func (t *Tokenizer) template() (*chatTemplate, error) {
	t.tmplOnce.Do(func() {
		if t.chatTemplate == "" {
			t.tmplErr = ErrNoChatTemplate
			return
		}
		t.tmpl, t.tmplErr = newChatTemplate(t.chatTemplate)
	})
	return t.tmpl, t.tmplErr
}

// ApplyChatTemplate renders msgs with the checkpoint's own chat template, as
// transformers' apply_chat_template(msgs, tokenize=False, ...). The result is
// text to Encode (special tokens in it become their ids).
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, opt ChatOptions) (string, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		d := exec.NewDict()
		d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue("role"), Value: exec.AsValue(m.Role)},
			&exec.Pair{Key: exec.AsValue("content"), Value: exec.AsValue(m.Content)})
		if m.ReasoningContent != nil {
			d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue("reasoning_content"), Value: exec.AsValue(*m.ReasoningContent)})
		}
		list[i] = d
	}
	return t.render(list, opt)
}

// ApplyChatTemplateJSON is ApplyChatTemplate for messages given as a JSON
// array of objects, with every field kept (tool_calls, reasoning_content,
// ...), in their order.
func (t *Tokenizer) ApplyChatTemplateJSON(messages []byte, opt ChatOptions) (string, error) {
	v, err := decodeOrdered(messages)
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat messages: %w", err)
	}
	list, ok := v.([]any)
	if !ok {
		return "", errors.New("tokenizer: chat messages: not a JSON array")
	}
	for i, m := range list {
		if _, ok := m.(*exec.Dict); !ok {
			return "", fmt.Errorf("tokenizer: chat messages[%d]: not a JSON object", i)
		}
	}
	return t.render(list, opt)
}

func (t *Tokenizer) render(messages []any, opt ChatOptions) (string, error) {
	ct, err := t.template()
	if err != nil {
		return "", err
	}
	vars := map[string]any{}
	for k, v := range t.templateVars {
		vars[k] = v
	}
	for k, v := range opt.Vars {
		vars[k] = v
	}
	vars["messages"] = messages
	vars["add_generation_prompt"] = opt.AddGenerationPrompt
	if opt.EnableThinking != nil {
		vars["enable_thinking"] = *opt.EnableThinking
	}
	if len(opt.Tools) > 0 {
		tools := make([]any, len(opt.Tools))
		for i, raw := range opt.Tools {
			if tools[i], err = decodeOrdered(raw); err != nil {
				return "", fmt.Errorf("tokenizer: tools[%d]: %w", i, err)
			}
		}
		vars["tools"] = tools
	}
	var buf bytes.Buffer
	if err := ct.tmpl.Execute(&buf, exec.NewContext(vars)); err != nil {
		return "", fmt.Errorf("tokenizer: rendering chat template: %w", err)
	}
	return buf.String(), nil
}

// decodeOrdered decodes JSON into template values keeping object key order:
// objects become *exec.Dict, arrays []any, numbers int64 or float64.
func decodeOrdered(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token()
			return list, err
		case '{':
			d := exec.NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				key := kt.(string)
				replaced := false
				for _, p := range d.Pairs { // a repeated key keeps its first position, as in Python
					if p.Key.String() == key {
						p.Value, replaced = exec.AsValue(v), true
					}
				}
				if !replaced {
					d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue(key), Value: exec.AsValue(v)})
				}
			}
			_, err := dec.Token()
			return d, err
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		if i, err := x.Int64(); err == nil && !strings.ContainsAny(string(x), ".eE") {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return f, nil
	default: // string, bool, nil
		return x, nil
	}
}

// filterPyJSON is transformers' tojson: json.dumps(x, ensure_ascii=False,
// indent=indent, separators=separators, sort_keys=sort_keys).
func filterPyJSON(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var ensureASCII, sortKeys bool
	var indent, seps *exec.Value
	if err := params.Take(
		exec.KeywordArgument("ensure_ascii", exec.AsValue(false), exec.BoolArgument(&ensureASCII)),
		exec.KeywordArgument("indent", exec.AsValue(nil), func(v *exec.Value) error { indent = v; return nil }),
		exec.KeywordArgument("separators", exec.AsValue(nil), func(v *exec.Value) error { seps = v; return nil }),
		exec.KeywordArgument("sort_keys", exec.AsValue(false), exec.BoolArgument(&sortKeys)),
	); err != nil {
		return exec.AsValue(exec.ErrInvalidCall(err))
	}
	w := pyJSON{ensureASCII: ensureASCII, sortKeys: sortKeys, itemSep: ", ", keySep: ": "}
	if !indent.IsNil() {
		w.itemSep = ","
		switch {
		case indent.IsInteger():
			w.indent, w.pretty = strings.Repeat(" ", indent.Integer()), true
		case indent.IsString():
			w.indent, w.pretty = indent.String(), true
		default:
			return exec.AsValue(fmt.Errorf("tojson: indent must be an integer or a string, not %s", indent.String()))
		}
	}
	if !seps.IsNil() {
		if !seps.IsList() || seps.Len() != 2 {
			return exec.AsValue(errors.New("tojson: separators must be a pair of strings"))
		}
		a, _ := seps.GetItem(0)
		b, _ := seps.GetItem(1)
		w.itemSep, w.keySep = a.String(), b.String()
	}
	if err := w.value(in.Interface(), 0); err != nil {
		return exec.AsValue(err)
	}
	return exec.AsSafeValue(w.buf.String())
}

// pyJSON writes values the way Python's json.dumps does.
type pyJSON struct {
	buf                     strings.Builder
	ensureASCII, sortKeys   bool
	pretty                  bool
	indent, itemSep, keySep string
}

func (w *pyJSON) newline(depth int) {
	if w.pretty {
		w.buf.WriteByte('\n')
		for range depth {
			w.buf.WriteString(w.indent)
		}
	}
}

func (w *pyJSON) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		w.buf.WriteString("null")
		return nil
	case *exec.Value:
		if x == nil || x.IsNil() {
			w.buf.WriteString("null")
			return nil
		}
		return w.value(x.Interface(), depth)
	case exec.Dict:
		return w.dict(x.Pairs, depth)
	case *exec.Dict:
		return w.dict(x.Pairs, depth)
	case string:
		w.str(x)
		return nil
	case bool:
		if x {
			w.buf.WriteString("true")
		} else {
			w.buf.WriteString("false")
		}
		return nil
	case json.Number:
		w.buf.WriteString(string(x))
		return nil
	case float64:
		w.buf.WriteString(pyFloat(x))
		return nil
	case float32:
		w.buf.WriteString(pyFloat(float64(x)))
		return nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.buf.WriteString(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		w.buf.WriteString(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			w.buf.WriteString("null")
			return nil
		}
		if rv.Len() == 0 {
			w.buf.WriteString("[]")
			return nil
		}
		w.buf.WriteByte('[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				w.buf.WriteString(w.itemSep)
			}
			w.newline(depth + 1)
			if err := w.value(rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
		w.newline(depth)
		w.buf.WriteByte(']')
	case reflect.Map:
		if rv.IsNil() {
			w.buf.WriteString("null")
			return nil
		}
		keys := rv.MapKeys()
		pairs := make([]*exec.Pair, 0, len(keys))
		for _, k := range keys {
			pairs = append(pairs, &exec.Pair{Key: exec.AsValue(fmt.Sprint(k.Interface())), Value: exec.AsValue(rv.MapIndex(k).Interface())})
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i].Key.String() < pairs[j].Key.String() })
		return w.dict(pairs, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			w.buf.WriteString("null")
			return nil
		}
		return w.value(rv.Elem().Interface(), depth)
	default:
		return fmt.Errorf("tojson: cannot serialise %T", v)
	}
	return nil
}

func (w *pyJSON) dict(pairs []*exec.Pair, depth int) error {
	if len(pairs) == 0 {
		w.buf.WriteString("{}")
		return nil
	}
	if w.sortKeys {
		pairs = append([]*exec.Pair(nil), pairs...)
		sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].Key.String() < pairs[j].Key.String() })
	}
	w.buf.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			w.buf.WriteString(w.itemSep)
		}
		w.newline(depth + 1)
		k := p.Key.Interface()
		switch kk := k.(type) {
		case string:
			w.str(kk)
		case bool:
			w.str(map[bool]string{true: "true", false: "false"}[kk])
		case nil:
			w.str("null")
		case float64:
			w.str(pyFloat(kk))
		default:
			w.str(fmt.Sprint(kk))
		}
		w.buf.WriteString(w.keySep)
		if err := w.value(p.Value, depth+1); err != nil {
			return err
		}
	}
	w.newline(depth)
	w.buf.WriteByte('}')
	return nil
}

// str writes a JSON string as Python's json encoder does (ensure_ascii off:
// only '"', '\\' and control characters are escaped; on: every non-ASCII
// character as \uXXXX, with surrogate pairs).
func (w *pyJSON) str(s string) {
	const hex = "0123456789abcdef"
	b := &w.buf
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (w.ensureASCII && r >= 0x7f && r < 0x10000):
				if r < 0x7f || w.ensureASCII {
					b.WriteString(`\u`)
					b.WriteByte(hex[r>>12&15])
					b.WriteByte(hex[r>>8&15])
					b.WriteByte(hex[r>>4&15])
					b.WriteByte(hex[r&15])
				}
			case w.ensureASCII && r >= 0x10000:
				r -= 0x10000
				for _, u := range []rune{0xD800 + r>>10, 0xDC00 + r&0x3FF} {
					b.WriteString(`\u`)
					b.WriteByte(hex[u>>12&15])
					b.WriteByte(hex[u>>8&15])
					b.WriteByte(hex[u>>4&15])
					b.WriteByte(hex[u&15])
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// pyFloat formats f as Python's float repr (shortest round-trip digits;
// scientific notation outside 1e-4 <= |f| < 1e16), with json's NaN/Infinity.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// strftime implements the common directives of Python's time.strftime for
// strftime_now.
func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'B':
			b.WriteString(t.Month().String())
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
