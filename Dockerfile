# lit-vision in a container: `docker build -t lit-vision .`, then
#   docker run --gpus all --shm-size 8g -v "$PWD/logs:/workspace/logs" lit-vision fit --config configs/convmixer.yaml
# The PyPI torch wheel bundles CUDA; the host needs only the NVIDIA driver and the container toolkit.
# No secrets in the image: pass WANDB_API_KEY at run time (`-e WANDB_API_KEY`), or log offline / to CSV.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# a non-root user (uid 1000, `USER 1000:1000` below) owning the working directory, where runs write logs and checkpoints
RUN useradd --create-home --uid 1000 --shell /bin/bash lit \
    && mkdir /workspace \
    && chown lit:lit /workspace

WORKDIR /opt/lit-vision

# dependencies before the source: this layer (torch and friends, several GB) is rebuilt only when pyproject.toml or
# constraints.txt change; constraints.txt pins the versions CI tested
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps .

COPY configs /workspace/configs

USER 1000:1000
WORKDIR /workspace
ENV MPLCONFIGDIR=/tmp/matplotlib \
    WANDB_DIR=/workspace/logs
ENTRYPOINT ["lit-vision"]
CMD ["fit", "--config", "configs/convmixer.yaml"]
