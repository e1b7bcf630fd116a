"""The OpenAI-compatible endpoint engine: requests to a serving engine (vLLM, SGLang, TGI, llama.cpp,
``transformers serve``) as runs, under a closed or open loop load, timed in a client process.

``engine.EndpointEngine`` is the ``TokenEngine``; ``worker`` is the client process (it imports only
httpx, msgspec and ``protocol``, so it starts fast); ``server`` discovers and probes the server;
``stream`` decodes SSE; ``requests`` builds prompts and bodies; ``settings`` holds the options.
"""
