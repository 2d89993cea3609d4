"""Gemma's tokenizer, built from a GGUF's vocabulary the way transformers' own GemmaConverter builds it
from tokenizer.model, because transformers' GGUF path gets it wrong.

transformers 4.57's GGUFGemmaConverter (integrations/ggml.py) turns the GGUF vocabulary into a *Unigram*
model, reading the scores as log-probabilities. Gemma's SentencePiece model is BPE: the scores rank
merges. So transformers tokenizes "Hello world" from the GGUF as Hello|▁w|or|ld instead of Hello|▁world,
and its ids are no reference. This module follows GemmaConverter (convert_slow_tokenizer.py) instead:
  - model: BPE over the same vocabulary, merges from transformers' generate_merges (every split of a
    piece into two pieces of the vocabulary, ranked by the merged piece's score), byte fallback, <unk>;
  - normalizer Replace(" ", "▁"), pre-tokenizer Split(" ", merged_with_previous), no dummy prefix;
  - control (type 3) and user-defined (type 4) pieces are added tokens matched on the raw text
    (normalized=False); control ones are special. llama.cpp's converter stores the user-defined
    whitespace runs already "pre-normalized" to spaces, which is what the raw text holds.
The result is checked against llama.cpp's tokenizer on the fixture strings by make_gguf_fixtures.py's
caller (see tests/fixtures/README.md), not only trusted.
"""
from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE
from transformers import GemmaTokenizerFast
from transformers.convert_slow_tokenizer import generate_merges

CONTROL, USER_DEFINED = 3, 4


def _array(reader, key):
    field = reader.fields[key]
    return [field.parts[i] for i in field.data]


def gemma_tokenizer_from_gguf(path):
    reader = GGUFReader(path)
    tokens = [bytes(p).decode("utf-8") for p in _array(reader, "tokenizer.ggml.tokens")]
    scores = [float(p[0]) for p in _array(reader, "tokenizer.ggml.scores")]
    types = [int(p[0]) for p in _array(reader, "tokenizer.ggml.token_type")]
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"{path}: the vocabulary repeats a piece; a BPE vocabulary cannot hold it")

    vocab = {piece: i for i, piece in enumerate(tokens)}
    merges = generate_merges(vocab, list(zip(tokens, scores)))
    tok = Tokenizer(BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True, dropout=None))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    special_names = {"<start_of_turn>", "<end_of_turn>"}
    tok.add_tokens([AddedToken(tokens[i], normalized=False, special=(types[i] == CONTROL or tokens[i] in special_names))
                    for i in range(len(tokens)) if types[i] in (CONTROL, USER_DEFINED)])

    def token_id(key):
        return int(reader.fields[key].parts[-1][0])

    def flag(key, default):
        return bool(reader.fields[key].parts[-1][0]) if key in reader.fields else default

    return GemmaTokenizerFast(
        tokenizer_object=tok,
        bos_token=tokens[token_id("tokenizer.ggml.bos_token_id")],
        eos_token=tokens[token_id("tokenizer.ggml.eos_token_id")],
        unk_token=tokens[token_id("tokenizer.ggml.unknown_token_id")],
        pad_token=tokens[token_id("tokenizer.ggml.padding_token_id")],
        add_bos_token=flag("tokenizer.ggml.add_bos_token", True),
        add_eos_token=flag("tokenizer.ggml.add_eos_token", False),
    )
