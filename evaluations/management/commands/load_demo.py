from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluations.demo import DEMO_USERS, load_demo


class Command(BaseCommand):
    help = (
        "载入演示数据：闵行区浦锦街道城市运行管理中心 2023 年度自评表及三个演示用户（可重复运行）"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="在不允许演示数据的环境中也载入（演示用户的密码是公开的）",
        )

    def handle(self, *args, **options):
        if not settings.DEMO_DATA_ALLOWED and not options["force"]:
            raise CommandError(
                "生产环境（DEBUG 关闭）不载入演示数据：演示用户的密码是公开的。确需载入请加 --force。"
            )
        evaluation, created = load_demo()
        if created:
            self.stdout.write(f"已载入：{evaluation}")
        else:
            self.stdout.write(f"已存在，未改动：{evaluation}")
        self.stdout.write("演示用户（用户名 / 密码 / 角色）：")
        for user in DEMO_USERS:
            self.stdout.write(
                f"  {user.username} / {user.password} / {user.role}（{user.full_name}）"
            )
