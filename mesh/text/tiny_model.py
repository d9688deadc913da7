"""Build a tiny random-weight Llama with a locally trained BPE tokenizer and a chat template.

Run by path inside the vLLM virtualenv (``.vllm-venv/bin/python mesh/text/tiny_model.py OUT_DIR``) so the
checkpoint is written by the same transformers version vLLM loads it with; it imports nothing from ``mesh``.
The weights are random: the text is gibberish, but vLLM's protocol, streaming, batching and structured-output
enforcement run for real on it. head_dim is 32 because vLLM's CPU attention rejects 16.

A free-running random model would sample end-of-sequence about once per vocabulary size, so its length would
be a matter of luck; it would also sample special tokens and lone non-ASCII bytes, which decode to no text (the
server holds back an incomplete UTF-8 sequence), so a stream could go silent for hundreds of tokens. One
residual dimension is therefore held constant by every input embedding, and the output rows of those tokens
point against it: the model never chooses them, so a free request streams text on every token and runs to
``max_tokens``, while a structured-output grammar (which masks every other token) still ends with ``</s>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: Bumped whenever the weights' construction changes, so an older build on disk is replaced.
FORMAT = 3
#: The residual dimension every input embedding sets to 1, and how hard unwanted tokens are pushed from it.
CONSTANT_DIM = 0
PENALTY = 20.0

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]

#: Training text for the tokenizer: enough English, fantasy vocabulary and JSON punctuation for sensible merges.
CORPUS = """
The Dungeon Master describes the scene. You stand at the edge of the Brinefen, where the salt marsh meets the
grey sea. Torches gutter in the wind; the old chapel leans over the water like a drowned giant. The party
searches the ruins for the relic of the Ashen Saint, while the bandits of the Red Hand watch from the reeds.
A goblin scout hisses a warning. The knight draws her sword, the wizard mutters a spell, the rogue slips into
shadow. Roll for initiative! The dragon's breath scorches the stones; the cleric calls on the Dawnfather.
Lords and ladies of House Varrow, merchants of the Guild of Lamps, priests, smugglers, sailors and witches.
{"title": "The Hidden Heir", "twist": "The innkeeper is the lost heir", "foreshadowing": ["a signet ring"],
"affected_npcs": ["Mara"], "affected_factions": ["House Varrow"], "timeline_note": "After the Long Winter"}
{"name": "Orla", "description": "A weathered sailor", "hit_points": 12, "armor_class": 14, "items": []}
Session summary: the heroes crossed the marsh, bargained with the ferryman, and found the sunken vault.
0 1 2 3 4 5 6 7 8 9 10 20 100 [ ] { } : , . ; ! ? ' " - ( ) / \\ _ + = * # @ & % $
"""


def build(out: Path, seed: int = 0, vocab_size: int = 2048) -> None:
    """Write config, weights, tokenizer and chat template to ``out``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([line for line in CORPUS.splitlines() if line.strip()] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out))

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        head_dim=32,
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    special = set(fast.all_special_ids) | {fast.convert_tokens_to_ids(t) for t in SPECIAL}
    silent = [i for i in range(len(fast)) if i in special or "\ufffd" in fast.decode([i])]
    with torch.no_grad():
        model.model.embed_tokens.weight[:, CONSTANT_DIM] = 1.0
        model.lm_head.weight[:, CONSTANT_DIM] = 0.0
        model.lm_head.weight[silent] = 0.0
        model.lm_head.weight[silent, CONSTANT_DIM] = -PENALTY
    model.save_pretrained(str(out), safe_serialization=True)
    # Some vLLM versions read the template from a file beside the tokenizer as well.
    (out / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    (out / "BUILD.json").write_text(
        json.dumps({"seed": seed, "vocab": len(fast), "format": FORMAT}), encoding="utf-8"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tiny_model.py OUT_DIR")
    build(Path(sys.argv[1]))
