package safetensors

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

type parseCase struct {
	name   string
	file   []byte
	want   error    // sentinel
	msgHas []string // substrings of the message
}

func bytesN(n int) []byte { return make([]byte, n) }

// headerLen returns an 8-byte prefix declaring a header of n bytes, followed by
// body.
func headerLen(n uint64, body string) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, n)
	return append(b, body...)
}

func malformedCases() []parseCase {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	return []parseCase{
		{"empty file", nil, ErrTruncated, []string{"0 bytes"}},
		{"7 bytes", bytesN(7), ErrTruncated, []string{"7 bytes"}},
		{"header shorter than declared", headerLen(100, `{"a":`), ErrTruncated, []string{"header length 100"}},
		{"header length over limit and beyond file", headerLen(1<<40, `{}`), ErrHeaderTooLarge, []string{"1099511627776"}},
		{"header length just over limit", headerLen(MaxHeaderSize+1, `{}`), ErrHeaderTooLarge, []string{"100000001"}},
		{"header length max u64", headerLen(^uint64(0), `{}`), ErrHeaderTooLarge, nil},
		{"header length beyond small file", headerLen(64, `{}`), ErrTruncated, []string{"extends beyond"}},
		{"not JSON", rawFile(`hello!!!`, nil), ErrInvalidHeader, []string{"must be a JSON object", "'h'"}},
		{"invalid UTF-8", rawFile("{\"\xff\":1}", nil), ErrInvalidHeader, []string{"UTF-8"}},
		{"JSON list", rawFile(`[1,2,3]`, nil), ErrInvalidHeader, []string{"must be a JSON object", "a list"}},
		{"JSON null", rawFile(`null`, nil), ErrInvalidHeader, []string{"must be a JSON object"}},
		{"empty header", rawFile(``, nil), ErrInvalidHeader, nil},
		{"unterminated object", rawFile(`{"a":{"dtype":"F32"`, nil), ErrInvalidHeader, []string{"malformed JSON"}},
		{"trailing garbage", rawFile(`{}xx`, nil), ErrInvalidHeader, []string{"after the JSON object"}},
		{"second object", rawFile(`{}{}`, nil), ErrInvalidHeader, []string{"after the JSON object"}},
		{"trailing NUL padding", rawFile("{}\x00\x00", nil), ErrInvalidHeader, []string{"after the JSON object"}},
		{"missing colon", rawFile(`{"a" {}}`, nil), ErrInvalidHeader, []string{"malformed JSON", "byte 5", "expected ':'"}},
		{"missing comma", rawFile(`{"a":{"dtype":"F32" "shape":[0],"data_offsets":[0,0]}}`, nil), ErrInvalidHeader, []string{`tensor "a"`, "expected ',' or '}'"}},
		{"trailing comma", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},}`, nil), ErrInvalidHeader, []string{"malformed JSON"}},
		{"trailing comma in list", rawFile(`{"a":{"dtype":"F32","shape":[0,],"data_offsets":[0,0]}}`, nil), ErrInvalidHeader, []string{`tensor "a"`}},
		{"leading zero", rawFile(`{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}`, bytesN(4)), ErrInvalidHeader, []string{"expected ',' or ']'"}},
		{"bare minus", rawFile(`{"a":{"dtype":"F32","shape":[-],"data_offsets":[0,4]}}`, bytesN(4)), ErrInvalidHeader, []string{"invalid number"}},
		{"unterminated key", rawFile(`{"abc`, nil), ErrInvalidHeader, []string{"unterminated string"}},
		{"invalid escape", rawFile(`{"a\x":{}}`, nil), ErrInvalidHeader, []string{"invalid escape"}},
		{"short unicode escape", rawFile(`{"a\u12":{}}`, nil), ErrInvalidHeader, []string{"escape"}},
		{"lone surrogate", rawFile(`{"\ud800":{}}`, nil), ErrInvalidHeader, []string{"lone surrogate"}},
		{"bad surrogate pair", rawFile(`{"\ud800\u0041":{}}`, nil), ErrInvalidHeader, []string{"surrogate pair"}},
		{"control char in key", rawFile("{\"a\nb\":{}}", nil), ErrInvalidHeader, []string{"control character"}},
		{"unknown field too deep", rawFile(`{"a":{"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, nil), ErrInvalidHeader, []string{`field "x"`, "nested too deeply"}},
		{"unknown field bad literal", rawFile(`{"a":{"x":nul,"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, nil), ErrInvalidHeader, []string{"invalid literal"}},
		{"tensor not object", rawFile(`{"a":[1]}`, nil), ErrInvalidHeader, []string{`tensor "a"`, "must be an object"}},
		{"dtype not string", rawFile(`{"a":{"dtype":3,"shape":[],"data_offsets":[0,4]}}`, bytesN(4)), ErrInvalidHeader, []string{`tensor "a"`, `"dtype" must be a string`}},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F17","shape":[],"data_offsets":[0,4]}}`, bytesN(4)), ErrUnknownDType, []string{`tensor "a"`, `"F17"`}},
		{"lower-case dtype", rawFile(`{"a":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}`, bytesN(4)), ErrUnknownDType, []string{`"f32"`}},
		{"shape not list", rawFile(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{`"shape" must be a list`}},
		{"shape negative", rawFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{`"shape"`, "-2"}},
		{"shape float", rawFile(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{`"shape"`, "2.0"}},
		{"shape exponent", rawFile(`{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{"2e0"}},
		{"shape string", rawFile(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{"got a string in it"}},
		{"shape nested", rawFile(`{"a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{"a list"}},
		{"shape too big for u64", rawFile(`{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{"does not fit"}},
		{"shape rank too large", rawFile(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", MaxRank)+`1],"data_offsets":[0,4]}}`, bytesN(4)), ErrInvalidHeader, []string{"more than 255"}},
		{"offsets negative", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-1,7]}}`, bytesN(8)), ErrInvalidHeader, []string{`"data_offsets"`, "-1"}},
		{"offsets non-integer", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}`, bytesN(8)), ErrInvalidHeader, []string{"8.5"}},
		{"offsets one element", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, bytesN(8)), ErrInvalidHeader, []string{"list of 2", "got 1"}},
		{"offsets three elements", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, bytesN(8)), ErrInvalidHeader, []string{"got more"}},
		{"offsets object", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":{"b":0}}}`, bytesN(8)), ErrInvalidHeader, []string{"an object"}},
		{"missing dtype", rawFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{`missing field "dtype"`}},
		{"missing shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{`missing field "shape"`}},
		{"missing offsets", rawFile(`{"a":{"dtype":"F32","shape":[2]}}`, bytesN(8)), ErrInvalidHeader, []string{`missing field "data_offsets"`}},
		{"duplicate field", rawFile(`{"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, bytesN(8)), ErrInvalidHeader, []string{`duplicate field "dtype"`}},
		{"metadata not object", rawFile(`{"__metadata__":[1]}`, nil), ErrInvalidHeader, []string{"__metadata__", "a list"}},
		{"metadata non-string value", rawFile(`{"__metadata__":{"format":1}}`, nil), ErrInvalidHeader, []string{`"format"`, "must be a string"}},
		{"metadata duplicate key", rawFile(`{"__metadata__":{"k":"a","k":"b"}}`, nil), ErrInvalidHeader, []string{`duplicate key "k"`}},
		{"metadata twice", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), ErrInvalidHeader, []string{"duplicate"}},
		{"duplicate tensor", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, bytesN(8)), ErrDuplicateTensor, []string{`tensor "a"`}},
		{"begin after end", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}`, bytesN(8)), ErrInvalidOffsets, []string{`tensor "a"`, "[8, 4]"}},
		{"end past buffer", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}`, bytesN(8)), ErrOffsetOutOfRange, []string{`tensor "a"`, "[0, 12]", "8-byte data buffer"}},
		{"huge offsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551611,18446744073709551615]}}`, bytesN(8)), ErrOffsetOutOfRange, nil},
		{"size mismatch", rawFile(`{"x":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,10]}}`, bytesN(12)), ErrSizeMismatch, []string{`tensor "x"`, "[0, 10] hold 10 bytes but BF16 [2 3] needs 12"}},
		{"size overflow", rawFile(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), ErrSizeMismatch, []string{"overflows 64 bits"}},
		{"size overflow via dtype", rawFile(`{"x":{"dtype":"F64","shape":[2305843009213693952,2],"data_offsets":[0,0]}}`, nil), ErrSizeMismatch, []string{"overflows 64 bits"}},
		{"sub-byte not whole bytes", rawFile(`{"x":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}`, bytesN(2)), ErrSizeMismatch, []string{"F4 [3] is not a whole number of bytes"}},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, bytesN(12)), ErrOverlap, []string{`tensor "b"`, `tensor "a"`}},
		{"overlap same range", rawFile(`{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, bytesN(8)), ErrOverlap, nil},
		{"overlap contained", rawFile(`{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"c":{"dtype":"U8","shape":[1],"data_offsets":[12,13]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, bytesN(16)), ErrOverlap, nil},
		{"ok header with bad data length", rawFile(ok, bytesN(4)), ErrOffsetOutOfRange, nil},
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range malformedCases() {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("bad.safetensors", tc.file)
			if err == nil {
				t.Fatalf("Parse succeeded with tensors %v, want %v", f.Names(), tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %q is not %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "safetensors: bad.safetensors: ") {
				t.Errorf("message %q does not name the file", msg)
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	// Tensors out of order, a hole between them, trailing padding, a scalar,
	// empty tensors (which may share offsets), unknown fields, unusual
	// whitespace and a null __metadata__.
	hdr := ` { "z" : {"dtype":"F32","shape":[2],"data_offsets":[8,16],"extra":{"k":[1,{"x":null}]}},
		"a":{"shape":[],"data_offsets":[0,2],"dtype":"BF16"},
		"e1":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4]},
		"e2":{"dtype":"I64","shape":[3,0],"data_offsets":[4,4]},
		"e3":{"dtype":"U8","shape":[0],"data_offsets":[16,16]},
		"n\u00e9\ud83d\ude00\n\"\\\/\t":{"dtype":"BOOL","shape":[0],"data_offsets":[0,0],"x":[true,false,null,-1.5e+3,{"":"\u0041"}]},
		"__metadata__":null }   `
	data := []byte{0x80, 0x3f, 9, 9, 9, 9, 9, 9, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 7, 7}
	f, err := Parse("ok.safetensors", rawFile(hdr, data))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.Names(), ","), "a,e1,e2,e3,n\u00e9\U0001F600\n\"\\/\t,z"; got != want {
		t.Fatalf("names %s, want %s", got, want)
	}
	if len(f.Metadata()) != 0 {
		t.Errorf("metadata %v, want empty", f.Metadata())
	}
	a, _ := f.Tensor("a")
	if v, err := a.ToF32(); err != nil || len(v) != 1 || v[0] != 1 || a.NumElements() != 1 {
		t.Errorf("scalar a = %v, %v", v, err)
	}
	z, _ := f.Tensor("z")
	if v, err := z.F32(); err != nil || len(v) != 2 || v[0] != 1 || v[1] != 2 {
		t.Errorf("z = %v, %v", v, err)
	}
	if z.File != "ok.safetensors" || z.Name != "z" {
		t.Errorf("z provenance %q %q", z.File, z.Name)
	}
	for _, name := range []string{"e1", "e2", "e3"} {
		e, _ := f.Tensor(name)
		if len(e.Data) != 0 || e.NumElements() != 0 {
			t.Errorf("%s: %d bytes, %d elements", name, len(e.Data), e.NumElements())
		}
	}
	if _, ok := f.Tensor("missing"); ok {
		t.Error("missing tensor found")
	}
	// Data views are capped: appending must not scribble over the neighbour.
	if cap(a.Data) != 2 {
		t.Errorf("cap(a.Data) = %d, want 2", cap(a.Data))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestParseEmptyHeaderObject(t *testing.T) {
	f, err := Parse("e", rawFile(`{}      `, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Names()) != 0 {
		t.Fatal(f.Names())
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse("model.safetensors", rawFile(`{"x":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]}}`, bytesN(10)))
	want := `safetensors: model.safetensors: tensor "x": data_offsets [0, 12] reach past the end of the 10-byte data buffer`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
