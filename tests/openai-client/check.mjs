// The official OpenAI Node client, unchanged, against a running `dlm serve` with the
// shipped models: node check.mjs PORT. Exits non-zero, saying what differed, if the
// client cannot use the server as it uses OpenAI's.
import assert from "node:assert/strict";
import OpenAI from "openai";

const port = process.argv[2];
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "unused", maxRetries: 0 });

const models = (await client.models.list()).data.map((m) => m.id);
assert.deepEqual(models, ["dlm-diffusion", "dlm-ar"], "the models listed");

for (const model of models) {
  // dlm's own settings travel as extra body fields, as the client allows.
  const body = { model, prompt: "The history of the city", max_tokens: 16, seed: 5 };
  const whole = await client.completions.create(body);
  assert.equal(whole.object, "text_completion");
  assert.equal(whole.choices.length, 1);
  assert.ok(whole.choices[0].text.length > 0, `${model}: no text`);
  assert.equal(whole.usage.completion_tokens, 16, `${model}: usage`);

  // Streamed: the same text for the same seed, and the usage on the last chunk.
  const stream = await client.completions.create({ ...body, stream: true });
  let text = "", chunks = 0, usage = null;
  for await (const chunk of stream) {
    chunks++;
    for (const c of chunk.choices ?? []) text += c.text;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, whole.choices[0].text, `${model}: streamed text`);
  assert.ok(chunks >= 2, `${model}: one chunk only`);
  assert.deepEqual(usage, whole.usage, `${model}: streamed usage`);

  // n samples and a prompt array come back as choices with their indices.
  const many = await client.completions.create({ ...body, prompt: ["A", "The album"], n: 2, max_tokens: 4 });
  assert.deepEqual(many.choices.map((c) => c.index), [0, 1, 2, 3], `${model}: choice indices`);
}

// Errors reach the client as its typed errors, with the server's message.
await assert.rejects(client.completions.create({ model: "dlm-ar", prompt: "hi", max_tokens: 0 }), (e) => {
  assert.ok(e instanceof OpenAI.BadRequestError, `not a BadRequestError: ${e}`);
  assert.match(e.message, /max_tokens/);
  return true;
});
await assert.rejects(client.completions.create({ model: "gpt-4", prompt: "hi" }), OpenAI.NotFoundError);
await assert.rejects(
  client.chat.completions.create({ model: "dlm-ar", messages: [{ role: "user", content: "hi" }] }),
  (e) => e instanceof OpenAI.BadRequestError && /no chat template/.test(e.message),
);
console.log("the OpenAI Node client: every check passed");
