package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/latentmas/latentmas/tokenizer"
)

func init() {
	register(command{
		name:    "tokenize",
		summary: "tokenise text or chat messages with a checkpoint's tokenizer (JSON ids)",
		run:     runTokenize,
	})
}

const tokenizeUsage = `Usage: latentmas tokenize --model DIR [--chat messages.json] [TEXT]
       latentmas tokenize --model DIR --jsonl FILE
       latentmas tokenize --model DIR --decode 1,2,3 [--skip_special_tokens]

Tokenises like Hugging Face's tokenizer(text, add_special_tokens=False) and
prints one JSON object {"ids": [...], "text": ...}, where text is what was
tokenised. TEXT is read from stdin when absent (one trailing newline is
dropped).

--chat FILE renders a JSON array of messages (or an object {"messages": [...],
"add_generation_prompt": ..., "enable_thinking": ..., "tools": [...]}) with the
checkpoint's own chat template first, as apply_chat_template(tokenize=False).

--jsonl FILE ("-" = stdin) reads one {"text": ...} or {"messages": [...],
"add_generation_prompt": true, "enable_thinking": false} object per line and
writes one {"ids": [...], "text": ...} line for each; blank lines are skipped.
Unset add_generation_prompt / enable_thinking take the flags' values.

--decode IDS prints {"text": ...}, decoded like tokenizer.decode(ids).`

// tokenizeRequest is one input: plain text or chat messages.
type tokenizeRequest struct {
	Text                *string           `json:"text"`
	Messages            json.RawMessage   `json:"messages"`
	AddGenerationPrompt *bool             `json:"add_generation_prompt"`
	EnableThinking      *bool             `json:"enable_thinking"`
	Tools               []json.RawMessage `json:"tools"`
}

type tokenizeResult struct {
	IDs  []int  `json:"ids"`
	Text string `json:"text"`
}

func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", tokenizeUsage, stderr)
	model := fs.String("model", "", "checkpoint directory (holding tokenizer.json and tokenizer_config.json)")
	chat := fs.String("chat", "", "JSON file of chat messages to render with the chat template")
	jsonl := fs.String("jsonl", "", `JSONL file of {"text"} / {"messages"} objects ("-" = stdin)`)
	decode := fs.String("decode", "", "comma-separated token ids to decode instead")
	skipSpecial := fs.Bool("skip_special_tokens", false, "with --decode: leave special tokens out")
	addGen := fs.Bool("add_generation_prompt", true, "chat: append the assistant header")
	think := fs.String("enable_thinking", "", "chat: Qwen3 enable_thinking (true, false, or empty = undefined)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*chat != "", *jsonl != "", *decode != ""} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return fmt.Errorf("--chat, --jsonl and --decode exclude each other")
	}
	if fs.NArg() > 1 || (fs.NArg() == 1 && modes > 0) {
		return fmt.Errorf("at most one TEXT argument, and none with --chat, --jsonl or --decode")
	}
	var thinking *bool
	switch *think {
	case "true":
		thinking = tokenizer.Bool(true)
	case "false":
		thinking = tokenizer.Bool(false)
	case "":
	default:
		return fmt.Errorf("--enable_thinking must be true, false or empty, got %q", *think)
	}
	if *model == "" {
		return fmt.Errorf("--model is required")
	}
	dir, err := resolveModel(*model, true, stderr)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)

	process := func(req *tokenizeRequest) (*tokenizeResult, error) {
		if (req.Text == nil) == (req.Messages == nil) {
			return nil, fmt.Errorf(`want exactly one of "text" and "messages"`)
		}
		if req.Text != nil {
			return &tokenizeResult{IDs: nonNil(tok.Encode(*req.Text)), Text: *req.Text}, nil
		}
		opt := tokenizer.ChatOptions{AddGenerationPrompt: *addGen, EnableThinking: thinking, Tools: req.Tools}
		if req.AddGenerationPrompt != nil {
			opt.AddGenerationPrompt = *req.AddGenerationPrompt
		}
		if req.EnableThinking != nil {
			opt.EnableThinking = req.EnableThinking
		}
		text, err := tok.ApplyChatTemplateJSON(req.Messages, opt)
		if err != nil {
			return nil, err
		}
		return &tokenizeResult{IDs: nonNil(tok.Encode(text)), Text: text}, nil
	}

	switch {
	case *decode != "":
		ids, err := parseIDs(*decode)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]string{"text": tok.Decode(ids, *skipSpecial)})
	case *jsonl != "":
		var r io.Reader = os.Stdin
		if *jsonl != "-" {
			f, err := os.Open(*jsonl)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		w := bufio.NewWriter(stdout)
		enc = json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 256<<20)
		for line := 1; sc.Scan(); line++ {
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			var req tokenizeRequest
			if err := json.Unmarshal(b, &req); err != nil {
				return fmt.Errorf("%s:%d: %w", *jsonl, line, err)
			}
			res, err := process(&req)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", *jsonl, line, err)
			}
			if err := enc.Encode(res); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", *jsonl, err)
		}
		return w.Flush()
	case *chat != "":
		b, err := os.ReadFile(*chat)
		if err != nil {
			return err
		}
		req := tokenizeRequest{Messages: b}
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
			req = tokenizeRequest{}
			if err := json.Unmarshal(b, &req); err != nil {
				return fmt.Errorf("%s: %w", *chat, err)
			}
			if req.Text != nil || req.Messages == nil {
				return fmt.Errorf(`%s: want a JSON array of messages or an object with "messages"`, *chat)
			}
		}
		res, err := process(&req)
		if err != nil {
			return fmt.Errorf("%s: %w", *chat, err)
		}
		return enc.Encode(res)
	}
	var text string
	if fs.NArg() == 1 {
		text = fs.Arg(0)
	} else {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		text = strings.TrimSuffix(string(b), "\n")
	}
	res, err := process(&tokenizeRequest{Text: &text})
	if err != nil {
		return err
	}
	return enc.Encode(res)
}

// nonNil makes an empty id list print as [] rather than null.
func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}
