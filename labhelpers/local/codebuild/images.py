"""ListCuratedEnvironmentImages: the build images CodeBuild manages, as platforms of languages of images.

Local builds run a Linux image's phases with the host's tools (projects.linux_only refuses Windows), so every
curated Linux x86_64 image runs; these are the ones AWS curates today. Their `versions` are empty: locally an
image has no pinned versions.
"""

from ..dispatch import JsonService

# platform -> (image, description); each image has every runtime, so its language is BASE
CURATED = {
    "AMAZON_LINUX": (
        ("aws/codebuild/amazonlinux-x86_64-standard:5.0", "Amazon Linux 2023 x86_64 standard:5.0"),
        ("aws/codebuild/amazonlinux-x86_64-standard:4.0", "Amazon Linux 2 x86_64 standard:4.0"),
    ),
    "UBUNTU": (
        ("aws/codebuild/standard:7.0", "Ubuntu 22.04 standard:7.0"),
        ("aws/codebuild/standard:6.0", "Ubuntu 22.04 standard:6.0"),
        ("aws/codebuild/standard:5.0", "Ubuntu 20.04 standard:5.0"),
    ),
}


class ImagesService(JsonService):
    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def list_curated_environment_images(self, params):
        return {
            "platforms": [
                {
                    "platform": platform,
                    "languages": [
                        {
                            "language": "BASE",
                            "images": [
                                {"name": name, "description": description, "versions": []}
                                for name, description in images
                            ],
                        }
                    ],
                }
                for platform, images in CURATED.items()
            ]
        }
