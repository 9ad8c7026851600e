#!/usr/bin/env bash
# Prints the config.json of a model of the recipe's family.
# Usage: scripts/recipe/config.sh roberta|gpt2 LAYERS HIDDEN HEADS
# Both families: MLP width 4 x hidden, 512 positions (RoBERTa: 514 = 512 + pad + 1),
# dropout 0.1, the roberta-base (RoBERTa) or GPT-2 (GPT-2) tokenizer's special ids.
set -euo pipefail
family=$1 layers=$2 hidden=$3 heads=$4
ff=$((4 * hidden))
case $family in
  roberta) cat <<JSON
{
  "architectures": ["RobertaForMaskedLM"],
  "model_type": "roberta",
  "vocab_size": 50265,
  "hidden_size": $hidden,
  "num_hidden_layers": $layers,
  "num_attention_heads": $heads,
  "intermediate_size": $ff,
  "max_position_embeddings": 514,
  "type_vocab_size": 1,
  "layer_norm_eps": 1e-05,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1,
  "initializer_range": 0.02,
  "pad_token_id": 1,
  "bos_token_id": 0,
  "eos_token_id": 2
}
JSON
  ;;
  gpt2) cat <<JSON
{
  "architectures": ["GPT2LMHeadModel"],
  "model_type": "gpt2",
  "vocab_size": 50257,
  "n_embd": $hidden,
  "n_layer": $layers,
  "n_head": $heads,
  "n_inner": null,
  "n_positions": 512,
  "n_ctx": 512,
  "activation_function": "gelu_new",
  "layer_norm_epsilon": 1e-05,
  "resid_pdrop": 0.1,
  "embd_pdrop": 0.1,
  "attn_pdrop": 0.1,
  "initializer_range": 0.02,
  "bos_token_id": 50256,
  "eos_token_id": 50256,
  "tie_word_embeddings": true
}
JSON
  ;;
  *) echo "config.sh: family must be roberta or gpt2, not '$family'" >&2; exit 2 ;;
esac
