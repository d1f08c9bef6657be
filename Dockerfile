# syntax=docker/dockerfile:1
# Reply service: CPU-only image (torch CPU wheel), exactly the locked dependencies, non-root, health check.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    REPLY_HOST=0.0.0.0 \
    REPLY_PORT=8000 \
    REPLY_DATA_DIR=/data

WORKDIR /app

# The CPU build of torch first, from PyTorch's CPU index: the default wheel pulls GBs of CUDA libraries.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Then exactly the locked versions, checked by hash (the lock leaves torch out and pins its dependencies).
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

# The project itself, prompts included as package data; nothing is resolved again.
COPY pyproject.toml README.md ./
COPY service ./service
COPY prompts ./prompts
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && rm -rf /app/service /app/prompts

RUN useradd --create-home --uid 10001 reply \
    && mkdir -p /data \
    && chown reply:reply /data
USER reply
WORKDIR /home/reply
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"

CMD ["python", "-m", "service"]
