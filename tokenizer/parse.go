package tokenizer

// Parse builds a tokenizer from the contents of a tokenizer.json and a
// tokenizer_config.json (configJSON may be nil: no chat template, no
// eos/pad). It is Load without files, e.g. for models made in memory.
func Parse(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	return parse(tokenizerJSON, configJSON)
}
