// The Vercel AI SDK (`ai` with @ai-sdk/openai `.chat`, @ai-sdk/anthropic, @ai-sdk/openai-compatible) against the
// gateway: text, a stream, a structured object and a tool call per provider package. Prints one JSON line of
// results (or of the error) per case; tests/clients/test_vercel_ai.py asserts on them.
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const [baseUrl, apiKey, packageName, modelId] = process.argv.slice(2);
const models = {
  openai: () => createOpenAI({ baseURL: `${baseUrl}/v1`, apiKey }).chat(modelId),
  anthropic: () => createAnthropic({ baseURL: `${baseUrl}/v1`, apiKey })(modelId),
  // Every gateway model takes response_format json_schema (translated where the provider has another form).
  "openai-compatible": () =>
    createOpenAICompatible({ name: "gateway", baseURL: `${baseUrl}/v1`, apiKey, supportsStructuredOutputs: true })(
      modelId,
    ),
};
const model = models[packageName]();
const event = z.object({ name: z.string(), date: z.string(), participants: z.array(z.string()) });

async function run(name, body) {
  try {
    console.log(JSON.stringify({ case: name, ok: true, ...(await body()) }));
  } catch (error) {
    console.log(JSON.stringify({ case: name, ok: false, error: String(error?.message ?? error).slice(0, 2000) }));
  }
}

await run("text", async () => {
  const result = await generateText({ model, prompt: "Say hello", maxRetries: 0 });
  return { text: result.text, inputTokens: result.usage.inputTokens };
});
await run("stream", async () => {
  const result = streamText({ model, prompt: "Say hello", maxRetries: 0 });
  let text = "";
  for await (const piece of result.textStream) text += piece;
  return { text };
});
await run("object", async () => {
  const result = await generateObject({
    model,
    schema: event,
    prompt: "Alice and Bob meet for lunch on Friday: the event.",
    maxRetries: 0,
  });
  return { object: result.object };
});
if (packageName === "openai-compatible") {
  // The package's default (no structured outputs): JSON mode, the shape spelled out in the prompt.
  await run("json_mode", async () => {
    const plain = createOpenAICompatible({ name: "gateway", baseURL: `${baseUrl}/v1`, apiKey })(modelId);
    const shape = JSON.stringify(z.toJSONSchema(event));
    const result = await generateObject({
      model: plain,
      schema: event,
      prompt: `Alice and Bob meet for lunch on Friday. Answer with JSON matching this JSON Schema: ${shape}`,
      maxRetries: 0,
    });
    return { object: result.object };
  });
}
await run("tool", async () => {
  const result = await generateText({
    model,
    prompt: "What is the weather in Paris?",
    tools: {
      weather: tool({
        description: "Current weather for a city",
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => `Sunny in ${city}`,
      }),
    },
    stopWhen: stepCountIs(3),
    maxRetries: 0,
  });
  return { steps: result.steps.length, toolCalls: result.steps.flatMap((s) => s.toolCalls.map((c) => c.toolName)), text: result.text };
});
